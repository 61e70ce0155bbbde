/* strsort.c - qsort an array of malloc'd random strings with strcmp.
 *
 * COUNT strings of 6..21 lowercase letters (fixed LCG seed) are allocated one
 * by one, sorted with qsort() through a strcmp comparator, and a checksum of
 * the sorted order is printed.  Exercises libc (malloc, qsort, strcmp) code
 * and pointer-indirect data accesses.  Deterministic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 400

static unsigned long lcg_state = 2024;

static unsigned long lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005UL + 1442695040888963407UL;
    return lcg_state >> 33;
}

static int cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int main(void)
{
    char **s = malloc(sizeof(char *) * COUNT);
    if (!s)
        return 1;
    for (int i = 0; i < COUNT; i++) {
        int len = 6 + (int)(lcg() % 16);
        s[i] = malloc((size_t)len + 1);
        if (!s[i])
            return 1;
        for (int k = 0; k < len; k++)
            s[i][k] = (char)('a' + lcg() % 26);
        s[i][len] = '\0';
    }

    qsort(s, COUNT, sizeof(char *), cmp);

    unsigned long h = 0;
    for (int i = 0; i < COUNT; i++)
        h = h * 31 + (unsigned char)s[i][0] + (unsigned long)strlen(s[i]);
    printf("%s %s %lu\n", s[0], s[COUNT - 1], h);

    for (int i = 0; i < COUNT; i++)
        free(s[i]);
    free(s);
    return 0;
}
