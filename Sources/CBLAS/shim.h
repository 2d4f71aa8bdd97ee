#include <cblas.h>
// OpenBLAS extensions: thread control for the benchmarks and for loops that call sgemm from
// several threads at once.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
