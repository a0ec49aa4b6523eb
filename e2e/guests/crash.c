/* crash - dies by SIGSEGV (a NULL store), after a line on stdout. */
#include <stdio.h>

int main(void)
{
	printf("crash: about to dereference NULL\n");
	fflush(stdout);
	/* volatile: the compiler may not drop or reorder the fault. */
	volatile int *p = (volatile int *)0;
	*p = 1;
	return 0;
}
