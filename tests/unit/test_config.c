/* test_config.c: erwatchd flag parsing: defaults, every flag, strict
 * values, clear errors. */
#include "config.h"
#include "test.h"

static int s_parse(config_t *c, char *err, int argc, char **argv)
{
    config_defaults(c);
    FILE *devnull = fopen("/dev/null", "w");
    int rc = config_parse(c, argc, argv, devnull, err, 512);
    fclose(devnull);
    return rc;
}

#define PARSE(c, err, ...)                                                                         \
    s_parse(c, err, (int)(sizeof((char *[]){"erwatchd", __VA_ARGS__}) / sizeof(char *)),           \
            (char *[]){"erwatchd", __VA_ARGS__})

TEST(defaults_are_loopback_and_local_file)
{
    config_t c;
    char err[512];
    char *argv[] = {"erwatchd"};
    ASSERT_EQ(s_parse(&c, err, 1, argv), 0);
    ASSERT_STREQ(c.db_path, "erwatch.db");
    ASSERT_STREQ(c.zmq_endpoint, "tcp://127.0.0.1:5557");
    ASSERT_STREQ(c.http_host, "127.0.0.1");
    ASSERT_EQ(c.http_port, 8080);
    ASSERT_GE(c.workers, 1);
    ASSERT_EQ(c.max_queue_bytes, 256u << 20);
}

TEST(every_flag)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--db", "/tmp/x.db", "--zmq", "tcp://127.0.0.1:*", "--http", "[::1]:0",
                    "--workers", "3", "--max-queue-mb", "16", "--http-threads", "2", "--commit-ms",
                    "50", "--log-level", "debug", "--ready-file", "/tmp/r", "--web",
                    "/srv/erwatch/web"),
              0);
    ASSERT_STREQ(c.db_path, "/tmp/x.db");
    ASSERT_STREQ(c.zmq_endpoint, "tcp://127.0.0.1:*");
    ASSERT_STREQ(c.http_host, "::1");
    ASSERT_EQ(c.http_port, 0);
    ASSERT_EQ(c.workers, 3);
    ASSERT_EQ(c.max_queue_bytes, 16u << 20);
    ASSERT_EQ(c.http_threads, 2);
    ASSERT_EQ(c.commit_ms, 50);
    ASSERT_EQ(c.log_level, LOG_DEBUG);
    ASSERT_STREQ(c.ready_file, "/tmp/r");
    ASSERT_STREQ(c.web_dir, "/srv/erwatch/web");
}

TEST(equals_form)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--workers=5", "--http=:9000"), 0);
    ASSERT_EQ(c.workers, 5);
    ASSERT_STREQ(c.http_host, "127.0.0.1");
    ASSERT_EQ(c.http_port, 9000);
}

TEST(bad_values_rejected_with_message)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--workers", "0"), -1);
    ASSERT_HAS(err, "--workers");
    ASSERT_HAS(err, "'0'");
    ASSERT_EQ(PARSE(&c, err, "--workers", "2x"), -1);
    ASSERT_EQ(PARSE(&c, err, "--max-queue-mb", "-1"), -1);
    ASSERT_EQ(PARSE(&c, err, "--log-level", "loud"), -1);
    ASSERT_EQ(PARSE(&c, err, "--http", "8080"), -1);
    ASSERT_HAS(err, "HOST:PORT");
    ASSERT_EQ(PARSE(&c, err, "--http", "::1:8080"), -1);
    ASSERT_EQ(PARSE(&c, err, "--http", "127.0.0.1:70000"), -1);
    ASSERT_EQ(PARSE(&c, err, "--zmq", "127.0.0.1:5557"), -1);
    ASSERT_EQ(PARSE(&c, err, "--db", ""), -1);
}

TEST(metric_set)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--workers", "1"), 0);
    ASSERT_EQ(c.metrics, EW_METRICS_ALL);
    ASSERT_EQ(PARSE(&c, err, "--metrics", "rankme,er_entropy"), 0);
    ASSERT_EQ(c.metrics, EW_MBIT(EW_M_RANKME) | EW_MBIT(EW_M_ER_ENTROPY));
    ASSERT_EQ(PARSE(&c, err, "--metrics", "all"), 0);
    ASSERT_EQ(c.metrics, EW_METRICS_ALL);
    ASSERT_EQ(PARSE(&c, err, "--metrics", "w2,entropy"), -1);
    ASSERT_HAS(err, "unknown metric 'entropy'");
    ASSERT_EQ(PARSE(&c, err, "--metrics", "w2,"), -1);
}

TEST(unknown_and_missing)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--frobnicate"), -1);
    ASSERT_HAS(err, "unknown option");
    ASSERT_EQ(PARSE(&c, err, "--db"), -1);
    ASSERT_HAS(err, "needs a value");
    ASSERT_EQ(PARSE(&c, err, "stray"), -1);
    ASSERT_HAS(err, "unexpected argument");
}

TEST(help_and_version_return_1)
{
    config_t c;
    char err[512];
    ASSERT_EQ(PARSE(&c, err, "--help"), 1);
    ASSERT_EQ(PARSE(&c, err, "-V"), 1);
}

TEST(loopback_names)
{
    const char *yes[] = {"localhost", "lo", "127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"};
    const char *no[] = {"0.0.0.0",         "::",        "*",           "eth0",
                        "10.0.0.1",        "128.0.0.1", "example.org", "::2",
                        "::ffff:10.0.0.1", ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!config_host_is_loopback(yes[i]))
            T_FAIL_("%s should be loopback", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (config_host_is_loopback(no[i]))
            T_FAIL_("%s should not be loopback", no[i]);
    ASSERT(config_zmq_is_local("tcp://127.0.0.1:5557"));
    ASSERT(config_zmq_is_local("tcp://127.0.0.1:*"));
    ASSERT(config_zmq_is_local("tcp://[::1]:5557"));
    ASSERT(config_zmq_is_local("tcp://localhost:5557"));
    ASSERT(config_zmq_is_local("ipc:///tmp/ew.sock"));
    ASSERT(!config_zmq_is_local("tcp://*:5557"));
    ASSERT(!config_zmq_is_local("tcp://0.0.0.0:5557"));
    ASSERT(!config_zmq_is_local("tcp://[::]:5557"));
    ASSERT(!config_zmq_is_local("tcp://eth0:5557"));
    ASSERT(!config_zmq_is_local("tcp://[::1:5557"));
}

TEST(name_and_serve_only)
{
    config_t c;
    char err[512], name[160];
    ASSERT_EQ(PARSE(&c, err, "--zmq", "none", "--name", "lab-dashboard"), 0);
    ASSERT_EQ(config_zmq_none(&c), 1);
    ASSERT_STREQ(c.name, "lab-dashboard");
    int warn = -1;
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), 0); /* nothing bound */
    ASSERT_EQ(PARSE(&c, err, "--zmq", "nothing"), -1);
    ASSERT_HAS(err, "'nothing'");
    ASSERT_EQ(PARSE(&c, err, "--name", ""), -1);
    ASSERT_EQ(PARSE(&c, err, "--name", "a\tb"), -1);
    ASSERT_HAS(err, "--name");
    ASSERT_EQ(PARSE(&c, err, "--workers", "2"), 0);
    ASSERT_EQ(config_zmq_none(&c), 0);
    ASSERT_STREQ(c.name, "");
    config_default_name("gpu07", "tcp://127.0.0.1:5557", name, sizeof name);
    ASSERT_STREQ(name, "gpu07:5557");
    config_default_name("gpu07", "tcp://127.0.0.1:*", name, sizeof name);
    ASSERT_STREQ(name, "gpu07");
    config_default_name("gpu07", "ipc:///tmp/ew.sock", name, sizeof name);
    ASSERT_STREQ(name, "gpu07");
    config_default_name("", "none", name, sizeof name);
    ASSERT_STREQ(name, "erwatchd");
}

TEST(unsafe_binds_refused_unless_insecure)
{
    config_t c;
    char err[512];
    int warn = -1;
    ASSERT_EQ(PARSE(&c, err, "--zmq", "tcp://127.0.0.1:*", "--http", "[::1]:0"), 0);
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), 0);
    ASSERT_EQ(warn, 0);

    ASSERT_EQ(PARSE(&c, err, "--zmq", "tcp://0.0.0.0:5557"), 0);
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), -1);
    if (!strstr(err, "--zmq tcp://0.0.0.0:5557") || !strstr(err, "--insecure"))
        T_FAIL_("message should name the endpoint and the way out: %s", err);

    if (!strstr(err, "--curve-key"))
        T_FAIL_("the message should say how to protect it: %s", err);
    ASSERT_EQ(PARSE(&c, err, "--zmq", "tcp://*:5557", "--curve-key", "s.key", "--curve-clients",
                    "clients"),
              0);
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), 0);
    ASSERT_EQ(warn, 0);
    ASSERT_EQ(PARSE(&c, err, "--curve-key", "s.key"), -1);
    ASSERT_HAS(err, "--curve-clients");

    ASSERT_EQ(PARSE(&c, err, "--http", "0.0.0.0:8080"), 0);
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), -1);
    if (!strstr(err, "--http 0.0.0.0") || !strstr(err, "--insecure"))
        T_FAIL_("message should name the address and the way out: %s", err);

    if (!strstr(err, "--web-config"))
        T_FAIL_("the message should say how to protect it: %s", err);
    ASSERT_EQ(config_check_exposure(&c, 1, &warn, err, sizeof err), 0); /* TLS + users */
    ASSERT_EQ(warn, 0);

    ASSERT_EQ(PARSE(&c, err, "--http", "0.0.0.0:8080", "--zmq", "tcp://*:1", "--insecure"), 0);
    ASSERT_EQ(config_check_exposure(&c, 0, &warn, err, sizeof err), 0);
    ASSERT_EQ(warn, 1);
    if (!strstr(err, "--zmq tcp://*:1") || !strstr(err, "--http 0.0.0.0"))
        T_FAIL_("the warning should name both: %s", err);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(defaults_are_loopback_and_local_file),
        T(every_flag),
        T(equals_form),
        T(bad_values_rejected_with_message),
        T(metric_set),
        T(unknown_and_missing),
        T(help_and_version_return_1),
        T(loopback_names),
        T(name_and_serve_only),
        T(unsafe_binds_refused_unless_insecure),
        {0},
    });
}
