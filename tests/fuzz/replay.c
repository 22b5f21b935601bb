/* replay.c: runs the libFuzzer target on every file of a corpus without
 * libFuzzer, so `make test` replays the decoder's seeds and past crashers
 * with the ordinary compiler (and under `make asan` with sanitizers).
 *
 *   fuzz_decode_replay [DIR|FILE ...]   default: tests/fuzz/corpus/decode
 *
 * Output is TAP-like, like tests/test.h: "ok replay <file>" per input, then
 * "# N passed, M failed". An input "fails" only when it cannot be read; a
 * target that breaks a promise aborts, which the test runner sees as a
 * crash. Files are replayed in name order so runs are reproducible.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file; returns a malloc'd buffer (OUT size) or NULL. */
static uint8_t *s_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = len;
    return buf;
}

static void s_replay_file(const char *path, int *passed, int *failed)
{
    size_t size = 0;
    uint8_t *data = s_read_file(path, &size);
    if (!data) {
        printf("not ok replay %s (cannot read)\n", path);
        (*failed)++;
        return;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    printf("ok replay %s\n", path);
    fflush(stdout);
    (*passed)++;
}

static int s_skip_entry(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static void s_replay_path(const char *path, int *passed, int *failed)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("not ok replay %s (no such file or directory)\n", path);
        (*failed)++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        s_replay_file(path, passed, failed);
        return;
    }
    struct dirent **names = NULL;
    int n = scandir(path, &names, s_skip_entry, alphasort);
    if (n < 0) {
        printf("not ok replay %s (cannot list)\n", path);
        (*failed)++;
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
        char *full = malloc(len);
        if (full) {
            snprintf(full, len, "%s/%s", path, names[i]->d_name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
                s_replay_file(full, passed, failed);
            free(full);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    if (argc < 2) {
        s_replay_path("tests/fuzz/corpus/decode", &passed, &failed);
    } else {
        for (int i = 1; i < argc; i++)
            s_replay_path(argv[i], &passed, &failed);
    }
    printf("# %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
