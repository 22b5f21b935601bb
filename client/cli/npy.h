/* npy.h: loads an N x d matrix for the CLI, from a NumPy .npy file or from
 * raw little-endian float32 with a shape given on the command line.
 *
 * Accepted .npy: format versions 1.0, 2.0 and 3.0; 2-D; descr '<f4' or
 * '<f8'; fortran_order False; the data exactly N*d elements. Anything else
 * is refused with a message that says what was found and what is needed.
 *
 * Ownership: npy_load*() fill a caller-owned npy_array_t whose data is
 * malloc'ed; npy_free() releases it (and may be called on a zeroed one).
 */
#ifndef ERWATCH_CLI_NPY_H
#define ERWATCH_CLI_NPY_H

#include <stddef.h>

typedef enum { NPY_F32 = 0, NPY_F64 = 1 } npy_dtype_t;

typedef struct {
    npy_dtype_t dtype;
    size_t n, d;
    void *data; /* n*d elements of dtype, row-major, host byte order */
} npy_array_t;

/* Reads a .npy file. Returns 0, or -1 with a one-line reason in err
 * (without the path; the caller prefixes it). */
int npy_load(const char *path, npy_array_t *out, char *err, size_t errlen);

/* Parses a .npy image already in memory (what npy_load does after reading
 * the file). */
int npy_parse(const void *buf, size_t len, npy_array_t *out, char *err, size_t errlen);

/* Reads raw little-endian float32; the file must be exactly 4*n*d bytes. */
int npy_load_raw_f32(const char *path, size_t n, size_t d, npy_array_t *out, char *err,
                     size_t errlen);

/* A new malloc'ed copy of a's elements widened (exactly) to double, or NULL
 * when out of memory. */
double *npy_to_double(const npy_array_t *a);

size_t npy_dtype_size(npy_dtype_t t);
void npy_free(npy_array_t *a);

#endif
