/* vectors.h: a reader for the reference vectors in tests/vectors (see its
 * README.md): the key=value index files (cases.txt, bessel.txt) and the raw
 * little-endian .f32 / .f64 matrices they name. Test-only code: it prints
 * what went wrong to stderr and returns NULL, so a test can fail loudly.
 *
 * The directory is $EW_VECTORS when set, else tests/vectors (relative to
 * the project root, where the tests run). File names given to the functions
 * below are relative to it (absolute paths are used as they are).
 *
 * Ownership: vectors_load() returns an owned set, freed by
 * vectors_destroy(&set) (which sets the pointer to NULL); the cases and the
 * strings it hands out live as long as the set. The vectors_read_*()
 * functions return malloc'ed arrays the caller frees with free().
 *
 *   vectors_t *v = vectors_load("cases.txt");
 *   for (size_t i = 0; v && i < vectors_count(v); i++) {
 *       const vectors_case_t *c = vectors_case(v, i);
 *       if (strcmp(vectors_str(c, "metric"), "align") == 0) {
 *           double *x = vectors_input_f64(c, "x");  // N x d from the "x" file
 *           ... vectors_num(c, "expected_f64") ...
 *           free(x);
 *       }
 *   }
 *   vectors_destroy(&v);
 */
#ifndef ERWATCH_TESTS_VECTORS_H
#define ERWATCH_TESTS_VECTORS_H

#include <stddef.h>

typedef struct vectors vectors_t;           /* one parsed index file */
typedef struct vectors_case vectors_case_t; /* one line of it */

/* The vectors directory ($EW_VECTORS or tests/vectors). */
const char *vectors_dir(void);

/* Parse an index file: every line that is not empty and does not start with
 * '#' is one case of space-separated key=value tokens. NULL on error. */
vectors_t *vectors_load(const char *file);
void vectors_destroy(vectors_t **v);

size_t vectors_count(const vectors_t *v);
const vectors_case_t *vectors_case(const vectors_t *v, size_t i);

/* A field's text, or NULL when the case has no such key. */
const char *vectors_str(const vectors_case_t *c, const char *key);
/* A field as a double (strtod: accepts nan, inf, -inf); NAN when the key is
 * missing, "na" or not a number. */
double vectors_num(const vectors_case_t *c, const char *key);
/* A field as a size (N, d, iters); 0 when missing or not a number. */
size_t vectors_size(const vectors_case_t *c, const char *key);
/* Whether the comma-separated "note" field holds flag. */
int vectors_has_note(const vectors_case_t *c, const char *flag);

/* Read a raw little-endian file holding exactly count values. NULL (with a
 * message) when it cannot be read or its size is not what count implies. */
float *vectors_read_f32(const char *file, size_t count);
double *vectors_read_f32_as_f64(const char *file, size_t count); /* widened */
double *vectors_read_f64(const char *file, size_t count);

/* The N x d float32 matrix named by field key ("x" or "y") of a case. */
float *vectors_input_f32(const vectors_case_t *c, const char *key);
double *vectors_input_f64(const vectors_case_t *c, const char *key);

#endif
