/* listwalk.c - build a linked list with malloc, then walk it in shuffled order.
 *
 * NODES nodes of 256 bytes each (264 with malloc's chunk header) are
 * allocated one by one, so they sit in allocation order on the heap, ~15 per
 * 4 KiB page.  The nodes are then linked in a pseudo-random permutation
 * (Fisher-Yates with a fixed LCG seed), and the list is traversed PASSES
 * times: each step is a dependent load that usually lands on a different
 * page.  The nodes are not freed (the process exits right after): free()
 * would double the trace for little interest.  Deterministic.
 */
#include <stdio.h>
#include <stdlib.h>

#define NODES 1500
#define PASSES 4

struct node {
    struct node *next;
    long value;
    char payload[240];
};

static unsigned long lcg_state = 12345;

static unsigned long lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005UL + 1442695040888963407UL;
    return lcg_state >> 33;
}

int main(void)
{
    static struct node *order[NODES];

    for (int i = 0; i < NODES; i++) {
        order[i] = malloc(sizeof(struct node));
        if (!order[i])
            return 1;
        order[i]->value = i;
    }

    /* Fisher-Yates shuffle of the visiting order. */
    for (int i = NODES - 1; i > 0; i--) {
        int j = (int)(lcg() % (unsigned long)(i + 1));
        struct node *t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < NODES - 1; i++)
        order[i]->next = order[i + 1];
    order[NODES - 1]->next = NULL;

    long sum = 0;
    for (int p = 0; p < PASSES; p++)
        for (struct node *n = order[0]; n; n = n->next)
            sum += n->value;
    printf("%ld\n", sum);
    return 0;
}
