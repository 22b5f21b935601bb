/* test_pg.c: pg.c's pure helpers: which --db arguments are PostgreSQL's,
 * and the URI as it may be logged (pg_redact never lets a password
 * through, wherever libpq would read one: user:password@ or password=).
 */
#include <string.h>

#include "pg.h"
#include "test.h"

static const char *s_redact(const char *db)
{
    static char out[512];
    pg_redact(db, out, sizeof out);
    return out;
}

TEST(accepts_only_uris)
{
    ASSERT_EQ(pg_accepts("postgresql://u@h/db"), 1);
    ASSERT_EQ(pg_accepts("postgres://h"), 1);
    ASSERT_EQ(pg_accepts("erwatch.db"), 0);
    ASSERT_EQ(pg_accepts("file:x.db?mode=ro"), 0);
    ASSERT_EQ(pg_accepts("host=h dbname=x"), 0); /* keyword form: not taken */
    ASSERT_EQ(pg_accepts(""), 0);
    ASSERT_EQ(pg_accepts(NULL), 0);
}

TEST(password_in_user_info_is_hidden)
{
    ASSERT_STREQ(s_redact("postgresql://u:s3cret@h:5432/db"), "postgresql://u:***@h:5432/db");
    ASSERT_STREQ(s_redact("postgres://u:s3cret@h"), "postgres://u:***@h");
    ASSERT_STREQ(s_redact("postgresql://u:@h/db"), "postgresql://u:***@h/db");
}

TEST(uri_without_password_is_unchanged)
{
    ASSERT_STREQ(s_redact("postgresql://u@h:5432/db"), "postgresql://u@h:5432/db");
    ASSERT_STREQ(s_redact("postgresql://h/db?sslmode=require"),
                 "postgresql://h/db?sslmode=require");
    /* a colon after the host is a port, not a password */
    ASSERT_STREQ(s_redact("postgresql://h:5432/db"), "postgresql://h:5432/db");
    ASSERT_STREQ(s_redact("postgresql://[::1]:5432/db"), "postgresql://[::1]:5432/db");
}

TEST(password_parameter_is_hidden)
{
    ASSERT_STREQ(s_redact("postgresql://u@h/db?password=s3cret"),
                 "postgresql://u@h/db?password=***");
    ASSERT_STREQ(s_redact("postgresql://u@h/db?sslmode=require&password=s3cret&connect_timeout=2"),
                 "postgresql://u@h/db?sslmode=require&password=***&connect_timeout=2");
    ASSERT_STREQ(s_redact("postgresql://u:a@h/db?password=b"),
                 "postgresql://u:***@h/db?password=***");
    ASSERT_STREQ(s_redact("postgresql://u@h/db?passfile=/x"), "postgresql://u@h/db?passfile=/x");
}

TEST(no_password_byte_survives)
{
    const char *uris[] = {
        "postgresql://user:p4ssw0rd@127.0.0.1:5432/erwatch",
        "postgresql://user@127.0.0.1/erwatch?password=p4ssw0rd",
        "postgresql://user@127.0.0.1/erwatch?a=1&password=p4ssw0rd&b=2",
        "postgresql://user:p4ssw0rd@h/erwatch?password=p4ssw0rd",
    };
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        const char *got = s_redact(uris[i]);
        ASSERT_NULL(strstr(got, "p4ssw0rd"));
        ASSERT_NOT_NULL(strstr(got, "***"));
    }
}

TEST(short_buffers_are_cut_not_overrun)
{
    char out[12];
    memset(out, 'x', sizeof out);
    pg_redact("postgresql://u:s3cret@h/db", out, 8);
    ASSERT_EQ(strlen(out), (size_t)7);
    ASSERT_EQ(out[8], 'x');
    ASSERT_NULL(strstr(out, "s3cret"));
    char mid[33]; /* cut inside the password: "...?password=s3c" */
    pg_redact("postgresql://u@h/db?password=s3cret", mid, sizeof mid);
    ASSERT_NULL(strstr(mid, "s3"));
    ASSERT_NOT_NULL(strstr(mid, "password=***"));
    pg_redact("postgresql://u:s3cret@h/db", out, 0); /* nothing written */
}

int main(void)
{
    return test_main((test_case_t[]){
        T(accepts_only_uris),
        T(password_in_user_info_is_hidden),
        T(uri_without_password_is_unchanged),
        T(password_parameter_is_hidden),
        T(no_password_byte_survives),
        T(short_buffers_are_cut_not_overrun),
        {0},
    });
}
