/*
 * xsched_double.c -- A TEST DOUBLE of XSched's shim library. THIS IS NOT XSCHED.
 *
 * Tests compile it with gcc (tests/cbuild.py) under XSched's file names (libshimcuda.so with
 * the softlinks libcuda.so.1 / libcuda.so, or libshimhip.so) so that xsched-tui's live probe
 * can be exercised on a machine without XSched and without a GPU. It schedules nothing. When it
 * is loaded, its constructor writes to stderr the lines a real XSched v1.2 process writes
 * (FACTS.md §1, samples/h100-cuda13/), chosen from the process environment by XSched's rules:
 *
 *   XSCHED_POLICY=<valid policy, any case>  -> "using local scheduler with policy <POLICY>"
 *   else XSCHED_SCHEDULER=GLB (any case)     -> "using global scheduler"
 *   else                                     -> "using app-managed scheduler"
 *   XSCHED_AUTO_XQUEUE = 1/on (any case) and the local scheduler
 *                                            -> "XQueue (0x...) from process <pid> created" lines
 *   XLOG_LEVEL: unset/empty = everything; exact ERRO/WARN/INFO/DEBG; anything else = INFO.
 *   On a terminal the level word is coloured, as v1.2 does.
 *
 * Control variables of the double only (prefix XSTD_, never read by XSched):
 *
 *   XSTD_SILENT=1        print nothing at all (a shim that loads but never logs)
 *   XSTD_FORMAT=old      pre-1.2 prefix "[INFO @ T123 @ HH:MM:SS.uuuuuu]" (default: v1.2 prefix)
 *   XSTD_XQUEUES=N       number of XQueue lines under local + auto XQueue (default 2; 0 = none)
 *   XSTD_PRIORITY=P      also print "set priority P for XQueue 0x..." after each XQueue line
 *   XSTD_LEVEL4=1        instead of XQueue lines print the level-4 WARN per queue:
 *                        "fail to auto-create XQueue (level-4) for HwQueue 0x..., err: 2 @ ..."
 *   XSTD_ASSERT=1        print the ERRO "Assertion failed: command threshold (T) must not be smaller
 *                        than command batch size (B) @ ..." and exit(1) (T/B from
 *                        XSCHED_AUTO_XQUEUE_THRESHOLD/_BATCH_SIZE, default 2 and 8)
 *   XSTD_TRACE=N         print N "[TRACE_MALLOC] size=... ptr=0x... ret=0 (SUCCESS)" and
 *                        N "[TRACE_KERNEL] func=0x... stream=..." lines (instrumented-shim style)
 *   XSTD_TRACE_NULL=K    K of the N kernel lines are on the null stream "stream=(nil)" (default N)
 *   XSTD_SEGV_AT_EXIT=1  raise(SIGSEGV) in a destructor, i.e. crash while the process exits
 *                        (core dumps are switched off first)
 *   XSTD_HANG=1|init     hang forever in the constructor (before main); XSTD_HANG=exit: at exit
 *
 * Build flavours: -DXSTD_CUDA exports cuInit, cuLaunchKernel, cuGetProcAddress(_v2) and
 * XGetProcAddress; -DXSTD_HIP exports hipInit, hipMalloc, hipLaunchKernel and XLaunchKernel.
 * -DXSTD_LINK_MARKERS calls xstd_hal_marker() / xstd_preempt_marker(), so that the test's tiny
 * libhal<p>.so and libpreempt.so are real DT_NEEDED dependencies (mapped like XSched's).
 * None of the exported functions does anything useful; they exist for symbol checks.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum { LV_ERRO = 0, LV_WARN = 1, LV_INFO = 2, LV_DEBG = 3 };
static const char *LV_NAME[] = {"ERRO", "WARN", "INFO", "DEBG"};
static const char *LV_COLOUR[] = {"\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[36m"};
static const char *POLICIES[] = {"HPF", "HHPF", "CHPF", "UP", "PUP", "SPUP",
                                 "KEDF", "LAX", "AWF", "CFS", "MLFQ", NULL};
static const char *SRC = "/opt/xsched";  /* build-time source folder shown in " @ file:line" */

static int g_threshold = LV_DEBG;
static int g_old_format = 0;
static int g_silent = 0;

static const char *env(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static long env_long(const char *name, long dflt) {
    const char *v = env(name);
    if (!v) return dflt;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return end == v ? dflt : n;
}

/* XSched's GetEnvOption: 1/on true, 0/off false, any case; anything else = default (off). */
static int env_on(const char *name) {
    const char *v = env(name);
    if (!v) return 0;
    while (*v == ' ' || *v == '\t') v++;
    char buf[8] = {0};
    size_t n = 0;
    while (v[n] && v[n] != ' ' && v[n] != '\t' && n < sizeof(buf) - 1) { buf[n] = v[n]; n++; }
    if (v[n] && v[n] != ' ' && v[n] != '\t') return 0;
    return strcmp(buf, "1") == 0 || strcasecmp(buf, "on") == 0;
}

static void xlog(int level, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void xlog(int level, const char *where, const char *fmt, ...) {
    if (g_silent || level > g_threshold) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    long tid = (long)syscall(SYS_gettid);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char suffix[512] = "";
    if (where && level <= LV_WARN) snprintf(suffix, sizeof(suffix), " @ %s/%s", SRC, where);
    if (g_old_format) {
        fprintf(stderr, "[%s @ T%ld @ %02d:%02d:%02d.%06ld] %s%s\n", LV_NAME[level], tid,
                tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec, msg, suffix);
    } else if (isatty(fileno(stderr))) {
        fprintf(stderr, "[XSCHED %s%s\x1b[0m @ T %ld @ %02d:%02d:%02d.%06ld] %s%s\n",
                LV_COLOUR[level], LV_NAME[level], tid, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (long)tv.tv_usec, msg, suffix);
    } else {
        fprintf(stderr, "[XSCHED %s @ T %ld @ %02d:%02d:%02d.%06ld] %s%s\n", LV_NAME[level], tid,
                tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec, msg, suffix);
    }
    fflush(stderr);
}

static void hang_forever(void) {
    for (;;) pause();
}

#ifdef XSTD_LINK_MARKERS
extern int xstd_hal_marker(void);
extern int xstd_preempt_marker(void);
#endif

__attribute__((constructor)) static void xstd_init(void) {
#ifdef XSTD_LINK_MARKERS
    (void)xstd_hal_marker();
    (void)xstd_preempt_marker();
#endif
    const char *hang = env("XSTD_HANG");
    g_silent = env_on("XSTD_SILENT");
    const char *fmt = env("XSTD_FORMAT");
    g_old_format = fmt && strcasecmp(fmt, "old") == 0;
    const char *lv = getenv("XLOG_LEVEL");
    if (lv && *lv) {
        g_threshold = LV_INFO;  /* unknown values mean INFO */
        for (int i = 0; i <= LV_DEBG; i++)
            if (strcmp(lv, LV_NAME[i]) == 0) g_threshold = i;  /* exact, case-sensitive */
    }

    /* Scheduler choice: a valid XSCHED_POLICY wins, then XSCHED_SCHEDULER=GLB, else app. */
    const char *policy = NULL;
    const char *pol = env("XSCHED_POLICY");
    if (pol)
        for (int i = 0; POLICIES[i]; i++)
            if (strcasecmp(pol, POLICIES[i]) == 0) policy = POLICIES[i];
    const char *sch = env("XSCHED_SCHEDULER");
    int global = !policy && sch && strcasecmp(sch, "GLB") == 0;
    if (policy)
        xlog(LV_INFO, NULL, "using local scheduler with policy %s", policy);
    else if (global)
        xlog(LV_INFO, NULL, "using global scheduler");
    else
        xlog(LV_INFO, NULL, "using app-managed scheduler");

    if (hang && (strcmp(hang, "1") == 0 || strcasecmp(hang, "init") == 0)) hang_forever();

    if (env_on("XSTD_ASSERT")) {
        long thr = env_long("XSCHED_AUTO_XQUEUE_THRESHOLD", 2);
        long bat = env_long("XSCHED_AUTO_XQUEUE_BATCH_SIZE", 8);
        xlog(LV_ERRO, "preempt/src/xqueue/xqueue.cpp:61",
             "Assertion failed: command threshold (%ld) must not be smaller than command batch "
             "size (%ld)", thr, bat);
        exit(EXIT_FAILURE);  /* XERRO flushes and exits 1 */
    }

    pid_t pid = getpid();
    long n = env_long("XSTD_XQUEUES", 2);
    const char *prio = env("XSTD_PRIORITY");
    if (policy && env_on("XSCHED_AUTO_XQUEUE")) {
        for (long i = 0; i < n; i++) {
            /* Handles carry the PID's low 16 bits in their top 16 bits, like XSched's. */
            uint64_t handle = ((uint64_t)(pid & 0xffff) << 48) | (0xae8f990ULL + (uint64_t)i * 0xd340ULL);
            if (env_on("XSTD_LEVEL4")) {
                xlog(LV_WARN, "preempt/src/xqueue/xqueue.cpp:136",
                     "fail to auto-create XQueue (level-4) for HwQueue 0x%lx, err: 2",
                     (unsigned long)(0x461c5f70UL + (unsigned long)i * 0x160UL));
                continue;
            }
            xlog(LV_INFO, NULL, "XQueue (0x%lx) from process %d created", (unsigned long)handle, (int)pid);
            if (prio)
                xlog(LV_INFO, NULL, "set priority %s for XQueue 0x%lx", prio, (unsigned long)handle);
        }
    }

    long trace = env_long("XSTD_TRACE", 0);
    long null_kernels = env_long("XSTD_TRACE_NULL", trace);
    if (!g_silent) {
        for (long i = 0; i < trace; i++) {
            fprintf(stderr, "[TRACE_MALLOC] size=2097152 ptr=0x%lx ret=0 (SUCCESS)\n",
                    0x7fb378a00000UL + (unsigned long)i * 0x200000UL);
            if (i < null_kernels)
                fprintf(stderr, "[TRACE_KERNEL] func=0x%lx stream=(nil)\n", 0x7fb50403e330UL + (unsigned long)i * 0x40UL);
            else
                fprintf(stderr, "[TRACE_KERNEL] func=0x%lx stream=0x%lx\n", 0x7fb50403e330UL + (unsigned long)i * 0x40UL,
                        0x7f0750460d70UL);
        }
        fflush(stderr);
    }
}

__attribute__((destructor)) static void xstd_fini(void) {
    const char *hang = env("XSTD_HANG");
    if (hang && strcasecmp(hang, "exit") == 0) hang_forever();
    if (env_on("XSTD_SEGV_AT_EXIT")) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);  /* a test must not leave core files behind */
        raise(SIGSEGV);
    }
}

/* ---- symbols a shim exports (they do nothing: this is a double) ---------------------------- */
#ifdef XSTD_CUDA
typedef int CUresult;
EXPORT CUresult cuInit(unsigned int flags) { (void)flags; return 0; }
EXPORT CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shmem, void *stream,
                               void **params, void **extra) {
    (void)f; (void)gx; (void)gy; (void)gz; (void)bx; (void)by; (void)bz; (void)shmem;
    (void)stream; (void)params; (void)extra;
    return 0;
}
EXPORT CUresult XGetProcAddress(const char *symbol, void **pfn, int version, uint64_t flags) {
    (void)symbol; (void)version; (void)flags;
    if (pfn) *pfn = NULL;
    return 500;  /* CUDA_ERROR_NOT_FOUND */
}
EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, uint64_t flags) {
    return XGetProcAddress(symbol, pfn, version, flags);
}
EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, uint64_t flags,
                                    void *status) {
    (void)status;
    return XGetProcAddress(symbol, pfn, version, flags);
}
#endif

#ifdef XSTD_HIP
typedef int hipError_t;
EXPORT hipError_t hipInit(unsigned int flags) { (void)flags; return 0; }
EXPORT hipError_t hipMalloc(void **ptr, size_t size) {
    (void)size;
    if (ptr) *ptr = NULL;
    return 2;  /* hipErrorOutOfMemory: a double allocates nothing */
}
EXPORT hipError_t XLaunchKernel(const void *f, void *stream) { (void)f; (void)stream; return 0; }
EXPORT hipError_t hipLaunchKernel(const void *f, unsigned gx, unsigned bx, void **args,
                                  size_t shmem, void *stream) {
    (void)gx; (void)bx; (void)args; (void)shmem;
    return XLaunchKernel(f, stream);
}
#endif

/* Present in every flavour, like the shims' X* helpers. */
EXPORT int XShimDoubleMarker(void) { return 1; }
