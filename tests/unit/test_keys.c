/* test_keys.c: CURVE key files (client/erwatch_key.c): what keygen writes
 * reads back, a key that holds '#' is a key, the wrong kind and bad
 * lines are refused with the file and line named. */
#include "erwatch.h"
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static char s_path[64];

static const char *s_file(const char *text)
{
    snprintf(s_path, sizeof s_path, "/tmp/ew-test-keys-%d", (int)getpid());
    FILE *f = fopen(s_path, "w");
    fputs(text, f);
    fclose(f);
    return s_path;
}

#define KEY_A "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7" /* valid Z85, 40 characters */
#define KEY_H "r#:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7" /* holds a '#' */
/* (No Z85 key starts with '#' or '$': 84 or 83 x 85^4 is past 2^32.) */
#define KEY_BAD "#q:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

TEST(reads_keygen_format_and_hash_keys)
{
    char k[ERWATCH_KEY_Z85_LEN + 1], err[512];
    ASSERT(erwatch_key_valid(KEY_A));
    ASSERT(erwatch_key_valid(KEY_H));
    ASSERT(!erwatch_key_valid(KEY_BAD));
    ASSERT_EQ(erwatch_key_read(s_file("# erwatch curve secret key \"s\"\n# c\n\n" KEY_A "\n"), 1, k,
                               err, sizeof err),
              0);
    ASSERT_STREQ(k, KEY_A);
    ASSERT_EQ(erwatch_key_read(s_file("# erwatch curve public key \"p\"\r\n" KEY_H "\r\n"), 0, k,
                               err, sizeof err),
              0);
    ASSERT_STREQ(k, KEY_H);
}

TEST(wrong_kind_and_bad_files_refused)
{
    char k[ERWATCH_KEY_Z85_LEN + 1], err[512];
    ASSERT_LT(erwatch_key_read(s_file("# erwatch curve public key \"p\"\n" KEY_A "\n"), 1, k, err,
                               sizeof err),
              0);
    ASSERT_HAS(err, "holds a public key");
    ASSERT_LT(erwatch_key_read(s_file("# only a comment\n"), 1, k, err, sizeof err), 0);
    ASSERT_HAS(err, "holds no key");
    ASSERT_LT(erwatch_key_read(s_file(KEY_A "\n" KEY_A "\n"), 0, k, err, sizeof err), 0);
    ASSERT_HAS(err, "line 2");
    ASSERT_LT(erwatch_key_read(s_file("short\n"), 0, k, err, sizeof err), 0);
    ASSERT_HAS(err, "line 1");
    ASSERT_EQ(erwatch_key_read("/nonexistent/x.key", 1, k, err, sizeof err), -ENOENT);
    ASSERT_HAS(err, "No such file");
}

TEST(client_list)
{
    char(*keys)[ERWATCH_KEY_Z85_LEN + 1];
    size_t n;
    char err[512];
    ASSERT_EQ(erwatch_key_list_read(s_file("# ranks\n" KEY_A " rank0\n\n" KEY_H "\t# rank1\n"),
                                    &keys, &n, err, sizeof err),
              0);
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(keys[0], KEY_A);
    ASSERT_STREQ(keys[1], KEY_H);
    free(keys);
    ASSERT_LT(erwatch_key_list_read(s_file(KEY_A "\nnot a key\n"), &keys, &n, err, sizeof err), 0);
    ASSERT_HAS(err, "line 2");
    ASSERT_LT(erwatch_key_list_read(s_file("# erwatch curve secret key \"x\"\n" KEY_A "\n"), &keys,
                                    &n, err, sizeof err),
              0);
    ASSERT_HAS(err, "secret key file");
    unlink(s_path);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(reads_keygen_format_and_hash_keys),
        T(wrong_kind_and_bad_files_refused),
        T(client_list),
        {0},
    });
}
