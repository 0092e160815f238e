/* SPDX-License-Identifier: MIT */
/* `celeriac hash`: sha512sum-compatible output and check mode, of local
 * files, URLs (--url, --urls) or files on the workers (--remote). */
#include "hashcmd.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build.h"
#include "conn.h"
#include "hashrun.h"
#include "hashtask.h"
#include "keys.h"
#include "lines.h"
#include "progress.h"
#include "shard.h"
#include "sums.h"
#include "version.h"
#include "xmalloc.h"

/* Longest line of a checksum file we read (longer ones are malformed). */
#define HASHCMD_MAX_LINE (1u << 20)

/* Check mode: what one line of a checksum file expects. */
struct hashcmd_expect {
    char *name; /* file name, unescaped; owned */
    char *hex;  /* expected digest; owned */
    int escape; /* print the name escaped (it holds a newline) */
};

/* One `celeriac hash` run. */
struct hashcmd {
    struct cli *cli;
    const char *algorithm; /* -a */
    char *tag;             /* "SHA512" for --tag and -c; owned */
    size_t hexlen;         /* digest length in hex characters */
    const char *queue;     /* --queue */
    int64_t timeout_us;    /* --timeout; 0 = none */
    int64_t deadline_us;
    int check, binary, tagged, zero;              /* -c -b --tag -z */
    int quiet, status_only, strict, warn, ignore; /* check mode flags */
    int source;                /* enum hashrun_source */
    const char *accept_status; /* --accept-status */
    int unordered;             /* --unordered */
    struct progress prog;
    char prefix[KEYS_MAX]; /* of the shard this run's tasks go to */
    struct conn conn;
    int failed;    /* some file failed: exit 1 */
    int timed_out; /* some result did not come in time: exit 3 */
    /* Check mode, per checksum file. */
    struct hashcmd_expect *expect;
    unsigned long mismatched, unreadable, matched;
};

enum {
    HASHCMD_OPT_TAG = 0x2000,
    HASHCMD_OPT_QUIET,
    HASHCMD_OPT_STATUS,
    HASHCMD_OPT_STRICT,
    HASHCMD_OPT_IGNORE,
    HASHCMD_OPT_TIMEOUT,
    HASHCMD_OPT_URL,
    HASHCMD_OPT_URLS,
    HASHCMD_OPT_REMOTE,
    HASHCMD_OPT_UNORDERED,
    HASHCMD_OPT_ACCEPT,
};

/* A list of URLs read from --urls files: the strings jobs point to. */
struct hashcmd_list {
    char **items; /* owned, each owned */
    size_t n, cap;
};

static void hashcmd_print(struct hashjob *j, size_t index, void *arg);
static void hashcmd_verify(struct hashjob *j, size_t index, void *arg);
static void hashcmd_report(struct hashcmd *h, struct hashjob *j);
static int hashcmd_run(struct hashcmd *h, struct hashjob *jobs, size_t n,
                       hashrun_fn *fn);
static int hashcmd_check_file(struct hashcmd *h, const char *path);
static int hashcmd_read_urls(struct hashcmd_list *l, const char *path);
static void hashcmd_list_add(struct hashcmd_list *l, char *item);
static void hashcmd_list_free(struct hashcmd_list *l);

/* clang-format off */
void
hashcmd_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac hash [-a ALGO] [-b|-t] [--tag] [-z] [--timeout S] [FILE...]\n"
"       celeriac hash --url [--urls LIST] [--accept-status any]\n"
"                     [--unordered] [URL...]\n"
"       celeriac hash --remote [--unordered] PATH...\n"
"       celeriac hash -c [-a ALGO] [--quiet|--status] [--strict] [-w]\n"
"                     [--ignore-missing] [--timeout S] [SUMS...]\n"
"\n"
"Prints or checks checksums like sha512sum, but the hashing is done by the\n"
"workers: each FILE becomes one \"hash\" task (data_b64), all sent at once\n"
"and printed in the order given.  With no FILE, or when FILE is -, reads\n"
"standard input.  The output is byte-identical to sha512sum's (sha256sum's\n"
"with -a sha256, ...):  HEX  NAME  (\"\\\" first when NAME holds a\n"
"backslash, newline or carriage return, which are then escaped).\n"
"A regular file larger than 32 MiB goes to one worker through an upload\n"
"stream instead, 1 MiB at a time with at most 8 MiB in Redis, so there is\n"
"no size limit; if the worker dies mid-way the file is sent again.\n"
"\n"
"With --url the arguments are http:// or https:// URLs that the workers\n"
"fetch and hash as the bytes arrive, with no 32 MiB limit; lines are\n"
"HEX  URL, the arguments' first, then those of the --urls lists.  With\n"
"--remote the arguments are names of files under the workers'\n"
"--files-root (a volume they share), sent as names, not contents: the\n"
"output is byte-identical to sha512sum run in that directory.\n"
"\n"
"  -a, --algorithm ALGO  an OpenSSL digest name (default sha512): sha256,\n"
"                        sha1, md5, sha3-256, blake2b512, ...\n"
"  -b, --binary          mark lines with '*' (binary mode), as sha512sum -b\n"
"  -t, --text            mark lines with ' ' (the default)\n"
"      --tag             print BSD-style lines: SHA512 (NAME) = HEX\n"
"  -z, --zero            end lines with NUL, not newline; no name escaping\n"
"  -c, --check           read checksum lines from the SUMS files and check\n"
"                        them: prints \"NAME: OK\" or \"NAME: FAILED\"\n"
"      --quiet           -c: do not print OK lines\n"
"      --status          -c: print nothing; the exit code tells\n"
"      --strict          -c: exit 1 on improperly formatted lines\n"
"  -w, --warn            -c: warn about improperly formatted lines\n"
"      --ignore-missing  -c: skip files that do not exist\n"
"      --url             the arguments (and -c names) are URLs\n"
"      --urls LIST       also hash the URLs listed in the file LIST, one a\n"
"                        line (- for standard input; blank lines and lines\n"
"                        starting with # are skipped); implies --url\n"
"      --accept-status any\n"
"                        with --url: hash the body whatever the HTTP\n"
"                        status (default: a non-2xx status is a failure)\n"
"      --remote          the arguments (and -c names) are paths relative\n"
"                        to the workers' --files-root\n"
"      --unordered       print each line as its result arrives, not in the\n"
"                        order given\n"
"  -q, --queue Q         the queue (default \"default\")\n"
"      --timeout S       give up after S seconds (fractions allowed), also\n"
"                        on a FIFO nobody writes to; default: wait forever\n"
"\n"
"With --shards N, the tasks of one run all go to one shard picked at\n"
"random (runs, not the files of one run, are spread over the shards).\n"
"\n%s"
"\n"
"Exit codes: 0 all OK, 1 a file could not be read or hashed, or (with -c)\n"
"did not match, 2 usage error, 3 --timeout elapsed, 4 Redis unreachable or\n"
"refused a command.  A lost connection is retried (100 ms doubling to 2 s)\n"
"until the timeout.\n"
"\n"
"With stderr on a terminal and stdout not, a progress line shows the\n"
"results in, the rate and the time left.\n"
"\n"
"Examples:\n"
"  celeriac hash *.iso > SHA512SUMS\n"
"  celeriac hash -c SHA512SUMS\n"
"  celeriac hash --urls urls.txt --unordered > URLSUMS\n"
"  (cd /srv/data && find . -type f -print0 | xargs -0 celeriac hash --remote)\n",
            cli_global_help);
}
/* clang-format on */

/* Prints a failed job's error on stderr and counts it. */
static void
hashcmd_report(struct hashcmd *h, struct hashjob *j)
{
    char *q = sums_quote(j->path);
    progress_clear(&h->prog);
    if (j->outcome == HASHJOB_TIMEOUT)
        h->timed_out = 1;
    else
        h->failed = 1;
    cli_warnx("%s: %s", q, j->error ? j->error : "failed");
    free(q);
}

/* hashrun_fn of generate mode: one checksum line per file. */
static void
hashcmd_print(struct hashjob *j, size_t index, void *arg)
{
    struct hashcmd *h = arg;
    (void)index;

    if (j->outcome != HASHJOB_OK) {
        hashcmd_report(h, j);
        return;
    }
    int escape = !h->zero && sums_needs_escape(j->path);
    if (escape)
        putchar('\\');
    if (h->tagged) {
        printf("%s (", h->tag);
        sums_put_name(stdout, j->path, escape);
        printf(") = %s", j->digest);
    } else {
        fputs(j->digest, stdout);
        putchar(' ');
        putchar(h->binary ? '*' : ' ');
        sums_put_name(stdout, j->path, escape);
    }
    putchar(h->zero ? '\0' : '\n');
    if (h->unordered)
        fflush(stdout); /* as it arrives, also into a pipe */
}

/* hashrun_fn of check mode: "NAME: OK", "NAME: FAILED", ... */
static void
hashcmd_verify(struct hashjob *j, size_t index, void *arg)
{
    struct hashcmd *h = arg;
    struct hashcmd_expect *e = &h->expect[index];
    const char *what;

    if (j->outcome == HASHJOB_OK) {
        int match = strcasecmp(e->hex, j->digest) == 0;
        if (match)
            h->matched++;
        else
            h->mismatched++;
        if (h->status_only || (match && h->quiet))
            return;
        what = match ? "OK" : "FAILED";
    } else {
        /* A file missing here, or (--remote) on the worker. */
        if (j->missing && h->ignore)
            return;
        h->unreadable++;
        hashcmd_report(h, j);
        if (h->status_only)
            return;
        what = "FAILED open or read";
    }
    if (e->escape)
        putchar('\\');
    sums_put_name(stdout, e->name, e->escape);
    printf(": %s\n", what);
}

/*
 * Runs the jobs on the connection (made on first use).  Returns 0, or -1
 * after printing a Redis error.
 */
static int
hashcmd_run(struct hashcmd *h, struct hashjob *jobs, size_t n, hashrun_fn *fn)
{
    struct hashrun_opts o = {
        .prefix = h->prefix,
        .queue = h->queue,
        .algorithm = h->algorithm,
        .hexlen = h->hexlen,
        .deadline_us = h->deadline_us,
        .source = h->source,
        .accept_status = h->accept_status,
        .unordered = h->unordered,
        .progress = &h->prog,
    };
    int timed_out = 0, r;

    if (n == 0)
        return 0;
    if (h->conn.ctx == NULL && conn_connect(&h->conn) < 0)
        return -1;
    progress_start(&h->prog, "hashed", n);
    r = hashrun_run(&h->conn, &o, jobs, n, fn, h, &timed_out);
    progress_end(&h->prog, n);
    if (r < 0)
        return -1;
    if (timed_out)
        cli_warnx("some results did not arrive within %.3g s: %s",
                  (double)h->timeout_us / 1e6, conn_timeout_hint(&h->conn));
    return 0;
}

/*
 * Checks the files listed in one checksum file.  Returns 0 if every line
 * was fine (coreutils rules), 1 if not, or -1 after a Redis error.
 */
static int
hashcmd_check_file(struct hashcmd *h, const char *path)
{
    struct sums_parser p = {h->tag, h->hexlen, -1};
    struct lines in;
    struct hashjob *jobs = NULL;
    size_t n = 0, cap = 0;
    unsigned long improper = 0;
    int is_stdin = strcmp(path, "-") == 0, rc = 1;
    char *line, *qname;
    size_t len;

    if (lines_open(&in, path, HASHCMD_MAX_LINE) < 0)
        return 1;
    qname = sums_quote(is_stdin ? "standard input" : path);
    for (;;) {
        struct sums_line sl;
        int r = lines_next(&in, &line, &len);
        if (r == LINES_EOF || r < 0)
            break;
        if (r == LINES_OK) {
            r = sums_parse(&p, line, len, &sl);
            if (r == 0)
                continue;
            if (r > 0 && !(is_stdin && strcmp(sl.name, "-") == 0)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    jobs = xrealloc(jobs, cap * sizeof(*jobs));
                    h->expect = xrealloc(h->expect, cap * sizeof(*h->expect));
                }
                memset(&jobs[n], 0, sizeof(jobs[n]));
                h->expect[n].name = xstrdup(sl.name);
                h->expect[n].hex = xstrdup(sl.hex);
                h->expect[n].escape = strchr(sl.name, '\n') != NULL;
                jobs[n].path = h->expect[n].name;
                n++;
                continue;
            }
        }
        improper++;
        if (h->warn)
            cli_warnx("%s: %lu: improperly formatted %s checksum line", qname,
                      in.lineno, h->tag);
    }
    lines_close(&in);

    h->mismatched = h->unreadable = h->matched = 0;
    if (hashcmd_run(h, jobs, n, hashcmd_verify) < 0) {
        rc = -1;
        goto done;
    }
    if (n == 0) {
        cli_warnx("%s: no properly formatted checksum lines found", qname);
    } else if (!h->status_only) {
        if (improper > 0)
            cli_warnx("WARNING: %lu line%s improperly formatted", improper,
                      improper == 1 ? " is" : "s are");
        if (h->unreadable > 0)
            cli_warnx("WARNING: %lu listed file%s could not be read",
                      h->unreadable, h->unreadable == 1 ? "" : "s");
        if (h->mismatched > 0)
            cli_warnx("WARNING: %lu computed checksum%s did NOT match",
                      h->mismatched, h->mismatched == 1 ? "" : "s");
        if (h->ignore && h->matched == 0)
            cli_warnx("%s: no file was verified", qname);
    }
    if (n > 0 && h->mismatched == 0 && h->unreadable == 0 &&
        (!h->strict || improper == 0) && (!h->ignore || h->matched > 0))
        rc = 0;
done:
    for (size_t i = 0; i < n; i++) {
        free(h->expect[i].name);
        free(h->expect[i].hex);
    }
    free(h->expect);
    h->expect = NULL;
    free(jobs);
    free(qname);
    return rc;
}

static void
hashcmd_list_add(struct hashcmd_list *l, char *item)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->n++] = item;
}

static void
hashcmd_list_free(struct hashcmd_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/*
 * Adds the URLs listed in path ("-": stdin) to l: one a line, surrounding
 * blanks dropped, blank lines and "#" comments skipped.  Returns 0, or -1
 * after saying why the file cannot be read.
 */
static int
hashcmd_read_urls(struct hashcmd_list *l, const char *path)
{
    struct lines in;
    char *line;
    size_t len;
    int r;

    if (lines_open(&in, path, HASHCMD_MAX_LINE) < 0)
        return -1;
    while ((r = lines_next(&in, &line, &len)) != LINES_EOF) {
        if (r < 0)
            break;
        if (r == LINES_TOO_LONG) {
            cli_warnx("%s: %lu: line longer than %u bytes: skipped",
                      cli_safe(path), in.lineno, HASHCMD_MAX_LINE);
            continue;
        }
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
                           line[len - 1] == '\r'))
            len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == len || line[k] == '#')
            continue;
        if (memchr(line + k, '\0', len - k) != NULL) {
            cli_warnx("%s: %lu: a NUL byte in the line: skipped",
                      cli_safe(path), in.lineno);
            continue;
        }
        hashcmd_list_add(l, xstrndup(line + k, len - k));
    }
    lines_close(&in);
    return r < 0 ? -1 : 0;
}

int
hashcmd_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"algorithm", required_argument, NULL, 'a'},
        {"binary", no_argument, NULL, 'b'},
        {"text", no_argument, NULL, 't'},
        {"check", no_argument, NULL, 'c'},
        {"zero", no_argument, NULL, 'z'},
        {"warn", no_argument, NULL, 'w'},
        {"queue", required_argument, NULL, 'q'},
        {"tag", no_argument, NULL, HASHCMD_OPT_TAG},
        {"quiet", no_argument, NULL, HASHCMD_OPT_QUIET},
        {"status", no_argument, NULL, HASHCMD_OPT_STATUS},
        {"strict", no_argument, NULL, HASHCMD_OPT_STRICT},
        {"ignore-missing", no_argument, NULL, HASHCMD_OPT_IGNORE},
        {"timeout", required_argument, NULL, HASHCMD_OPT_TIMEOUT},
        {"url", no_argument, NULL, HASHCMD_OPT_URL},
        {"urls", required_argument, NULL, HASHCMD_OPT_URLS},
        {"remote", no_argument, NULL, HASHCMD_OPT_REMOTE},
        {"unordered", no_argument, NULL, HASHCMD_OPT_UNORDERED},
        {"accept-status", required_argument, NULL, HASHCMD_OPT_ACCEPT},
        {NULL, 0, NULL, 0},
    };
    struct hashcmd h;
    struct hashcmd_list urls = {NULL, 0, 0};
    const char *url_files[64];
    int nurl_files = 0, url = 0, remote = 0;
    int opt, rc = CLI_EXIT_USAGE, mode_opts = 0, text = 0;
    char *dflt[] = {(char *)"-"};

    memset(&h, 0, sizeof(h));
    h.cli = cli;
    h.algorithm = HASHTASK_DEFAULT_ALGORITHM;
    h.queue = KEYS_DEFAULT_QUEUE;
    while ((opt = getopt_long(argc, argv, "a:btczwq:h", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'a':
            h.algorithm = optarg;
            break;
        case 'b':
            h.binary = 1;
            text = 0;
            break;
        case 't':
            h.binary = 0;
            text = 1;
            break;
        case 'c':
            h.check = 1;
            break;
        case 'z':
            h.zero = 1;
            break;
        case 'w':
            h.warn = 1;
            mode_opts = 1;
            break;
        case 'q':
            h.queue = optarg;
            break;
        case HASHCMD_OPT_TAG:
            h.tagged = 1;
            break;
        case HASHCMD_OPT_QUIET:
            h.quiet = 1;
            mode_opts = 1;
            break;
        case HASHCMD_OPT_STATUS:
            h.status_only = 1;
            mode_opts = 1;
            break;
        case HASHCMD_OPT_STRICT:
            h.strict = 1;
            mode_opts = 1;
            break;
        case HASHCMD_OPT_IGNORE:
            h.ignore = 1;
            mode_opts = 1;
            break;
        case HASHCMD_OPT_TIMEOUT:
            if (cli_parse_seconds(optarg, &h.timeout_us) < 0)
                return cli_usage("hash",
                                 "--timeout '%s': expected a number "
                                 "of seconds greater than 0",
                                 optarg);
            break;
        case HASHCMD_OPT_URL:
            url = 1;
            break;
        case HASHCMD_OPT_URLS:
            if (nurl_files == (int)(sizeof(url_files) / sizeof(url_files[0])))
                return cli_usage("hash", "at most %zu --urls files",
                                 sizeof(url_files) / sizeof(url_files[0]));
            url_files[nurl_files++] = optarg;
            url = 1;
            break;
        case HASHCMD_OPT_REMOTE:
            remote = 1;
            break;
        case HASHCMD_OPT_UNORDERED:
            h.unordered = 1;
            break;
        case HASHCMD_OPT_ACCEPT:
            if (strcmp(optarg, BUILD_ACCEPT_ANY) != 0)
                return cli_usage("hash",
                                 "--accept-status '%s': the only value is "
                                 "'any' (hash the body whatever the HTTP "
                                 "status)",
                                 cli_safe(optarg));
            h.accept_status = BUILD_ACCEPT_ANY;
            break;
        case 'h':
        case CLI_OPT_HELP:
            hashcmd_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("hash", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (h.check && (h.tagged || h.binary || text))
        return cli_usage("hash", "--tag, --binary and --text make no sense "
                                 "with --check");
    if (h.check && h.zero)
        return cli_usage("hash", "--zero makes no sense with --check");
    if (!h.check && mode_opts)
        return cli_usage("hash", "--quiet, --status, --strict, --warn and "
                                 "--ignore-missing only apply with --check");
    if (h.tagged && h.binary)
        return cli_usage("hash", "--tag and --binary cannot be combined");
    if (url && remote)
        return cli_usage("hash", "--url (or --urls) and --remote cannot be "
                                 "combined: a task has one source");
    if (h.accept_status != NULL && !url)
        return cli_usage("hash", "--accept-status only applies with --url "
                                 "or --urls");
    if (h.check && nurl_files > 0)
        return cli_usage("hash", "--urls makes no sense with --check: give "
                                 "the checksum files, and --url");
    if ((url || remote) && !h.check && optind == argc && nurl_files == 0)
        return cli_usage("hash", "%s",
                         remote ? "--remote needs at least one PATH"
                                : "--url needs at least one URL (or --urls "
                                  "LIST)");
    if (remote && !h.check)
        for (int i = optind; i < argc; i++)
            if (strcmp(argv[i], "-") == 0)
                return cli_usage("hash",
                                 "--remote: standard input cannot be "
                                 "hashed by the workers; name a file "
                                 "called - as ./-");
    h.source = url ? HASHRUN_SRC_URL
               : remote ? HASHRUN_SRC_PATH
                        : HASHRUN_SRC_FILE;

    if (!keys_valid_name(h.queue))
        return cli_usage("hash",
                         "bad queue name '%s': use 1 to %d printable "
                         "characters without spaces or commas",
                         h.queue, PROTOCOL_MAX_NAME);
    const EVP_MD *md = EVP_get_digestbyname(h.algorithm);
    if (md == NULL || EVP_MD_size(md) <= 0 ||
        (size_t)EVP_MD_size(md) * 2 >= sizeof(((struct hashjob *)0)->digest))
        return cli_usage("hash",
                         "unknown algorithm '%s'; use an OpenSSL "
                         "digest name such as sha512, sha256, sha1, "
                         "md5, sha3-256 or blake2b512 (see 'openssl "
                         "list -digest-algorithms')",
                         h.algorithm);
    h.hexlen = (size_t)EVP_MD_size(md) * 2;
    h.tag = sums_tag(h.algorithm);

    if (cli_check_shards(cli, "hash") != 0)
        goto done;
    struct shard_rr rr;
    shard_rr_init(&rr, cli->shards);
    if (cli_shard_prefix(cli, shard_rr_next(&rr), h.prefix, sizeof(h.prefix)) <
        0) {
        cli_warnx("--prefix '%s' is too long", cli->prefix);
        goto done;
    }
    if (conn_init(&h.conn, cli->redis, h.prefix) < 0)
        goto done;
    h.deadline_us = cli_deadline(h.timeout_us);
    for (int i = 0; i < nurl_files; i++)
        if (hashcmd_read_urls(&urls, url_files[i]) < 0) {
            rc = CLI_EXIT_FAILED;
            goto done;
        }
    if (optind == argc && (!url || h.check)) {
        argv = dflt;
        argc = 1;
        optind = 0;
    }
    int nfiles = argc - optind;
    rc = CLI_EXIT_REDIS;
    if (h.check) {
        int all_ok = 1;
        for (int i = 0; i < nfiles; i++) {
            int r = hashcmd_check_file(&h, argv[optind + i]);
            if (r < 0)
                goto done;
            if (r > 0)
                all_ok = 0;
        }
        if (!all_ok)
            h.failed = 1;
    } else {
        size_t njobs = (size_t)nfiles + urls.n;
        struct hashjob *jobs = xcalloc(njobs ? njobs : 1, sizeof(*jobs));
        for (int i = 0; i < nfiles; i++)
            jobs[i].path = argv[optind + i];
        for (size_t i = 0; i < urls.n; i++)
            jobs[(size_t)nfiles + i].path = urls.items[i];
        if (njobs == 0)
            cli_warnx("no URL to hash: the --urls lists are empty");
        int r = hashcmd_run(&h, jobs, njobs, hashcmd_print);
        free(jobs);
        if (r < 0)
            goto done;
    }
    rc = h.timed_out ? CLI_EXIT_TIMEOUT
         : h.failed  ? CLI_EXIT_FAILED
                     : CLI_EXIT_OK;
    if (cli_flush_stdout() < 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAILED;
done:
    hashcmd_list_free(&urls);
    free(h.tag);
    conn_close(&h.conn);
    return rc;
}
