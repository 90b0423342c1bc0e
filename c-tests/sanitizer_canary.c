/* Proves the sanitizer build really catches errors: `heap` overflows a heap
 * buffer (ASan), `overflow` overflows a signed int (UBSan). Built with the
 * same flags as the sanitized test suite; c-tests/Makefile expects both to
 * die with the sanitizer's report. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    volatile int big = INT_MAX;
    char *p;
    int r;
    if (argc > 1 && strcmp(argv[1], "overflow") == 0) {
        r = big + argc; /* signed overflow: UBSan aborts here */
        printf("%d\n", r);
        return 0;
    }
    p = malloc(8);
    if (p == NULL) return 2;
    memset(p, 0, 7 + (size_t)argc); /* past the end (argc is 2): ASan aborts here */
    r = p[0];
    free(p);
    return r;
}
