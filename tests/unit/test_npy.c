/* test_npy.c: unit tests of the CLI's .npy / raw float32 loader
 * (client/cli/npy.c).
 *
 * Files are written byte by byte with fwrite into a fresh temporary
 * directory, following the .npy format (magic, version, little-endian header
 * length, a Python dict literal padded with spaces to a multiple of 64 and
 * ending in '\n'), so each malformation is exactly the one a test names.
 */
#include "cli/npy.h"
#include "test.h"

#include <stdint.h>
#include <unistd.h>

static char s_dir[64];
static char s_path[128];

/* Writes a .npy of format major.minor with header dict text (padded here)
 * followed by data. Returns s_path. */
static const char *s_write_npy(int major, int minor, const char *dict, const void *data,
                               size_t nbytes)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = pre + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = dl + pad + 1;
    snprintf(s_path, sizeof s_path, "%s/a.npy", s_dir);
    FILE *f = fopen(s_path, "wb");
    if (!f)
        return s_path;
    unsigned char p[12] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, (unsigned char)minor};
    for (size_t i = 0; i < pre - 8; i++)
        p[8 + i] = (unsigned char)(hlen >> (8 * i));
    fwrite(p, 1, pre, f);
    fwrite(dict, 1, dl, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (nbytes)
        fwrite(data, 1, nbytes, f);
    fclose(f);
    return s_path;
}

static const char *s_write_bytes(const void *data, size_t n)
{
    snprintf(s_path, sizeof s_path, "%s/b.bin", s_dir);
    FILE *f = fopen(s_path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    return s_path;
}

static const float S_F4[6] = {1.0f, -2.5f, 3.25f, 0.1f, 1e-30f, -7.0f};
static const double S_F8[6] = {1.0, -2.5, 3.25, 0.1, 1e-300, -7.0};

/* Expects a load of the file in s_path to fail with msg containing needle. */
#define ASSERT_REJECTS(needle)                                                                     \
    do {                                                                                           \
        npy_array_t rej_a;                                                                         \
        char rej_err[256] = "";                                                                    \
        ASSERT_EQ(npy_load(s_path, &rej_a, rej_err, sizeof rej_err), -1);                          \
        ASSERT_NULL(rej_a.data);                                                                   \
        if (!strstr(rej_err, needle))                                                              \
            T_FAIL_("error \"%s\" does not mention \"%s\"", rej_err, needle);                      \
    } while (0)

/* ---------------------------------------------------------------- tests */

TEST(loads_v1_float32)
{
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    npy_array_t a;
    char err[256];
    ASSERT_EQ(npy_load(s_path, &a, err, sizeof err), 0);
    ASSERT_EQ(a.dtype, NPY_F32);
    ASSERT_EQ(a.n, 2);
    ASSERT_EQ(a.d, 3);
    ASSERT_MEMEQ(a.data, S_F4, sizeof S_F4);
    double *z = npy_to_double(&a);
    ASSERT_NOT_NULL(z);
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(z[i], (double)S_F4[i]); /* widened exactly */
    free(z);
    npy_free(&a);
    ASSERT_NULL(a.data);
    npy_free(&a); /* twice is harmless */
}

TEST(loads_v2_float64)
{
    s_write_npy(2, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", S_F8,
                sizeof S_F8);
    npy_array_t a;
    char err[256];
    ASSERT_EQ(npy_load(s_path, &a, err, sizeof err), 0);
    ASSERT_EQ(a.dtype, NPY_F64);
    ASSERT_EQ(a.n, 3);
    ASSERT_EQ(a.d, 2);
    double *z = npy_to_double(&a);
    ASSERT_NOT_NULL(z);
    ASSERT_MEMEQ(z, S_F8, sizeof S_F8);
    free(z);
    npy_free(&a);
}

TEST(loads_v3_and_tolerates_layout)
{
    /* Keys in another order, double quotes, no trailing comma, odd spaces. */
    s_write_npy(3, 0, "{ \"shape\":(6,1) ,'fortran_order':False,'descr':'<f4'}", S_F4, sizeof S_F4);
    npy_array_t a;
    char err[256];
    ASSERT_EQ(npy_load(s_path, &a, err, sizeof err), 0);
    ASSERT_EQ(a.n, 6);
    ASSERT_EQ(a.d, 1);
    npy_free(&a);
    /* A 1 x 1 matrix. */
    s_write_npy(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", S_F8, 8);
    ASSERT_EQ(npy_load(s_path, &a, err, sizeof err), 0);
    ASSERT_EQ(a.n * a.d, 1);
    ASSERT_EQ(((double *)a.data)[0], 1.0);
    npy_free(&a);
}

TEST(parses_from_memory)
{
    unsigned char buf[256];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
    size_t dl = strlen(dict), hlen = 128 - 10; /* dict + padding + newline */
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hlen;
    buf[9] = 0;
    memset(buf + 10, ' ', hlen);
    memcpy(buf + 10, dict, dl);
    buf[10 + hlen - 1] = '\n';
    memcpy(buf + 10 + hlen, S_F4, 8);
    npy_array_t a;
    char err[256];
    ASSERT_EQ(npy_parse(buf, 10 + hlen + 8, &a, err, sizeof err), 0);
    ASSERT_EQ(a.n, 1);
    ASSERT_EQ(a.d, 2);
    ASSERT_EQ(((float *)a.data)[1], -2.5f);
    npy_free(&a);
    ASSERT_EQ(npy_parse(buf, 10 + hlen + 4, &a, err, sizeof err), -1);
}

TEST(rejects_fortran_order)
{
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("fortran_order");
}

TEST(rejects_other_dtypes)
{
    s_write_npy(1, 0, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("'<i4'");
    s_write_npy(1, 0, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", S_F4, 12);
    ASSERT_REJECTS("'<f2'");
    s_write_npy(1, 0, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", S_F4, 6);
    ASSERT_REJECTS("'|u1'");
    s_write_npy(1, 0, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("dtype");
}

TEST(rejects_big_endian)
{
    s_write_npy(1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("big-endian");
    s_write_npy(2, 0, "{'descr': '>f8', 'fortran_order': False, 'shape': (3, 2), }", S_F8,
                sizeof S_F8);
    ASSERT_REJECTS("big-endian");
}

TEST(rejects_wrong_dimensions)
{
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("2-D");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("2-D");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", S_F4, 4);
    ASSERT_REJECTS("2-D");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0);
    ASSERT_REJECTS("empty");
}

TEST(rejects_size_mismatch)
{
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4 - 4);
    ASSERT_REJECTS("needs 24");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", S_F8,
                sizeof S_F8);
    ASSERT_REJECTS("data is 48 bytes");
    s_write_npy(1, 0,
                "{'descr': '<f8', 'fortran_order': False, "
                "'shape': (99999999999, 99999999999), }",
                S_F8, sizeof S_F8);
    ASSERT_REJECTS("too large");
}

TEST(rejects_bad_framing)
{
    const char junk[] = "this is not numpy at all";
    s_write_bytes(junk, sizeof junk);
    ASSERT_REJECTS("not a .npy file");
    s_write_npy(4, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("version 4.0");
    s_write_npy(1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("version 1.1");
    /* Header length pointing past the end of the file. */
    unsigned char trunc[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f, '{', '}'};
    s_write_bytes(trunc, sizeof trunc);
    ASSERT_REJECTS("truncated");
    unsigned char tiny[7] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1};
    s_write_bytes(tiny, sizeof tiny);
    ASSERT_REJECTS("not a .npy file");
    s_write_npy(1, 0, "{'descr': '<f4', 'shape': (2, 3), }", S_F4, sizeof S_F4);
    ASSERT_REJECTS("lacks");
    s_write_npy(1, 0,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
                "'extra': 1, }",
                S_F4, sizeof S_F4);
    ASSERT_REJECTS("unexpected key");
    s_write_npy(1, 0, "['descr', '<f4']", S_F4, sizeof S_F4);
    ASSERT_REJECTS("not a Python dict");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("trailing");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("fortran_order");
    s_write_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", S_F4,
                sizeof S_F4);
    ASSERT_REJECTS("shape");
}

TEST(missing_file_is_reported)
{
    snprintf(s_path, sizeof s_path, "%s/does-not-exist.npy", s_dir);
    ASSERT_REJECTS("cannot open");
}

TEST(raw_float32_with_shape)
{
    s_write_bytes(S_F4, sizeof S_F4);
    npy_array_t a;
    char err[256];
    ASSERT_EQ(npy_load_raw_f32(s_path, 3, 2, &a, err, sizeof err), 0);
    ASSERT_EQ(a.dtype, NPY_F32);
    ASSERT_EQ(a.n, 3);
    ASSERT_EQ(a.d, 2);
    ASSERT_MEMEQ(a.data, S_F4, sizeof S_F4);
    npy_free(&a);
    ASSERT_EQ(npy_load_raw_f32(s_path, 2, 2, &a, err, sizeof err), -1);
    ASSERT_HAS(err, "24 bytes");
    ASSERT_HAS(err, "needs 16");
    ASSERT_EQ(npy_load_raw_f32(s_path, 0, 2, &a, err, sizeof err), -1);
}

TEST(large_file_round_trip)
{
    /* Bigger than the loader's first read buffer, so it has to grow. */
    size_t n = 1000, d = 50;
    double *x = malloc(n * d * sizeof *x);
    ASSERT_NOT_NULL(x);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (double)i * 0.5 - 3.0;
    s_write_npy(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 50), }", x,
                n * d * sizeof *x);
    npy_array_t a;
    char err[256];
    int rc = npy_load(s_path, &a, err, sizeof err);
    int same = rc == 0 && memcmp(a.data, x, n * d * sizeof *x) == 0;
    free(x);
    ASSERT_EQ(rc, 0);
    ASSERT(same);
    npy_free(&a);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/test_npy.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = test_main((test_case_t[]){
        T(loads_v1_float32),
        T(loads_v2_float64),
        T(loads_v3_and_tolerates_layout),
        T(parses_from_memory),
        T(rejects_fortran_order),
        T(rejects_other_dtypes),
        T(rejects_big_endian),
        T(rejects_wrong_dimensions),
        T(rejects_size_mismatch),
        T(rejects_bad_framing),
        T(missing_file_is_reported),
        T(raw_float32_with_shape),
        T(large_file_round_trip),
        {0},
    });
    char p[128];
    snprintf(p, sizeof p, "%s/a.npy", s_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/b.bin", s_dir);
    unlink(p);
    rmdir(s_dir);
    return rc;
}
