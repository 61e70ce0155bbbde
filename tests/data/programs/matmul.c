/* matmul.c - naive C = A * B on N x N doubles, for vmsim's Lackey traces.
 *
 * The rows are padded to a leading dimension of LD doubles (a little more than
 * one 4 KiB page) so that walking down a column of B touches a new page on
 * every step: the inner loop streams through N distinct pages of B, which is
 * what makes the trace interesting for small TLBs.  Deterministic: no input,
 * no randomness, no time.
 */
#include <stdio.h>
#include <stdlib.h>

#define N 32
#define LD 520 /* 520 doubles = 4160 bytes per row */

int main(void)
{
    double *a = malloc(sizeof(double) * N * LD);
    double *b = malloc(sizeof(double) * N * LD);
    double *c = malloc(sizeof(double) * N * LD);
    if (!a || !b || !c)
        return 1;

    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i * LD + j] = (double)(i + j);
            b[i * LD + j] = (double)(i - j + 1);
        }

    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < N; k++)
                s += a[i * LD + k] * b[k * LD + j];
            c[i * LD + j] = s;
        }

    double trace = 0.0;
    for (int i = 0; i < N; i++)
        trace += c[i * LD + i];
    printf("%.1f\n", trace);

    free(c);
    free(b);
    free(a);
    return 0;
}
