/* accord demo: a migration handshake between two processes over loopback
 * TCP, driven through the C API of libaccord.a.
 *
 *   accord-demo [--multifd N] happy   the handshake: main channel, N multifd
 *                                     channels and the preempt channel as real
 *                                     sockets, three devices, one slow to approve
 *   accord-demo [--multifd N] fail    the seed scenarios that hang QEMU: both
 *                                     processes fail at once with the same error
 *
 * The parent binds 127.0.0.1 on an ephemeral port, then forks and execs
 * itself twice: a destination process (inheriting the listening socket) and
 * a source process. Both print one timeline on stdout, times in ms since the
 * parent started. Every wait is bounded: poll() timeouts come from accord's
 * poll_timeout (and the device approval schedule), each child has an alarm,
 * the parent kills what is still running after 10 s. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accord.h"

enum scenario { HAPPY, CAP_ONE_SIDE, DEVICE_UNSUPPORTED };
static const char *const SCENARIO_ARG[] = {"happy", "cap-one-side", "device-unsupported"};

/* The devices: QEMU section idstrs. The GPU is slow to load its initial data. */
struct device_spec {
    const char *name;
    bool source_wants_ack;
    bool destination_supports_ack;
    unsigned approve_after_ms; /* after Welcome, if it takes part */
};
static struct device_spec DEVICES[3] = {
    {"ram", false, false, 0},
    {"0000:00:02.0/vfio-nic", true, true, 30},
    {"0000:00:03.0/vfio-gpu", true, true, 400},
};
#define N_DEVICES 3
#define MAX_CONNS 300
#define CHILD_ALARM_S 10

static uint64_t t0_ns;

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* accord's clock: the caller's monotonic milliseconds. */
static uint64_t now_ms(void) { return mono_ns() / 1000000u; }

/* One timeline line, written with a single write(2) so that the two
 * processes' lines interleave whole. */
static void say(const char *who, const char *fmt, ...) {
    char line[1024];
    int n;
    va_list ap;
    double ms = (double)(mono_ns() - t0_ns) / 1e6;
    n = snprintf(line, sizeof line, "%9.1f ms  %-11s  ", ms, who);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(STDOUT_FILENO, line, (size_t)n) < 0) { /* nothing to do */
    }
}

static void die(const char *who, const char *what) {
    say(who, "fatal: %s: %s", what, strerror(errno));
    exit(2);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            struct pollfd pf = {fd, POLLOUT, 0};
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            if (poll(&pf, 1, 1000) <= 0) return -1;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static int connect_to(int port) {
    struct sockaddr_in a;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblock(fd);
    return fd;
}

/* Milliseconds poll() may sleep until `deadline` (accord's ACCORD_NO_DEADLINE: 1 s). */
static int poll_ms(uint64_t deadline) {
    uint64_t now = now_ms();
    if (deadline == ACCORD_NO_DEADLINE) return 1000;
    if (deadline <= now) return 0;
    return deadline - now > 1000 ? 1000 : (int)(deadline - now);
}

static void caps_text(const accord_enabled *caps, size_t n, char *out, size_t len) {
    size_t i, at = 0;
    out[0] = 0;
    for (i = 0; i < n && at < len; i++) {
        const char *name = accord_capability_name(caps[i].id);
        if (caps[i].id == ACCORD_CAP_MULTIFD || caps[i].id == ACCORD_CAP_DEVICE_STATE)
            at += (size_t)snprintf(out + at, len - at, "%s%s=%u", i ? ", " : "", name, caps[i].param);
        else
            at += (size_t)snprintf(out + at, len - at, "%s%s", i ? ", " : "", name);
    }
}

static void error_text(const accord_error_info *e, char *out, size_t len) {
    if (accord_error_format(e, out, len, NULL) != ACCORD_OK && out[0] == 0)
        snprintf(out, len, "%s (E%d)", accord_strerror(e->code), (int)e->code);
}

static void report(int fd, const char *text) {
    if (write(fd, text, strlen(text)) < 0) { /* the parent reports a missing verdict */
    }
    close(fd);
}

/* Close a socket after the peer has had the chance to read what we sent:
 * half-close, then wait (bounded) for its EOF. */
static void linger_close(int fd) {
    char junk[256];
    struct pollfd pf = {fd, POLLIN, 0};
    uint64_t until = now_ms() + 300;
    shutdown(fd, SHUT_WR);
    while (now_ms() < until && poll(&pf, 1, poll_ms(until)) > 0) {
        ssize_t r = read(fd, junk, sizeof junk);
        if (r <= 0) break;
    }
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Source                                                              */

static accord_source src;

static int source_flush(int fd) {
    static uint8_t out[ACCORD_BUFFER_SIZE];
    size_t n;
    for (;;) {
        accord_result rc = accord_source_poll_transmit(&src, now_ms(), out, sizeof out, &n);
        if (rc != ACCORD_OK || n == 0) return rc == ACCORD_OK ? 0 : -1;
        if (write_all(fd, out, n) < 0) return -1;
    }
}

static int run_source(enum scenario sc, int multifd, int port, int report_fd) {
    accord_cap_offer caps[] = {
        {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_POSTCOPY_RAM, ACCORD_LEVEL_OPTIONAL, 0},
        {ACCORD_CAP_POSTCOPY_PREEMPT, ACCORD_LEVEL_OPTIONAL, 0},
        {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0},
    };
    accord_source_config cfg;
    uint8_t nonce[16];
    accord_channel chans[300];
    int chan_fd[300];
    size_t nchan = 0, i, have = 0;
    static uint8_t in[ACCORD_BUFFER_SIZE];
    char text[512], list[1024];
    uint64_t start;
    int main_fd, want = 0;
    accord_result rc;
    (void)sc;

    caps[1].param = (uint16_t)multifd;
    if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) die("source", "getrandom");
    main_fd = connect_to(port);
    if (main_fd < 0) die("source", "connect main channel");
    accord_source_config_default(&cfg);
    cfg.caps = caps;
    cfg.n_caps = sizeof caps / sizeof caps[0];
    rc = accord_source_init(&src, &cfg, nonce);
    if (rc != ACCORD_OK) {
        say("source", "init: %s", accord_strerror(rc));
        return 2;
    }
    for (i = 0; i < N_DEVICES; i++) {
        accord_source_add_device(&src, DEVICES[i].name, 0, DEVICES[i].source_wants_ack, NULL);
        want += DEVICES[i].source_wants_ack;
    }
    start = now_ms();
    accord_source_start(&src, start);
    say("source", "main channel connected; sending Hello: return-path!, multifd=%d!, postcopy-ram?, "
                  "postcopy-preempt?, switchover-ack! (! required, ? optional); %d devices, %d want "
                  "switchover-ack",
        multifd, N_DEVICES, want);
    if (source_flush(main_fd) < 0) die("source", "send Hello");

    /* Pipelining: every secondary channel opens now, before any answer. */
    accord_source_channels(&src, chans, sizeof chans / sizeof chans[0], &nchan);
    list[0] = 0;
    if (nchan > 0)
        snprintf(list, sizeof list, "multifd 0..%d%s", multifd - 1,
                 chans[nchan - 1].role == ACCORD_ROLE_PREEMPT ? ", preempt 0" : "");
    say("source", "opening %u secondary channels at once, before any answer, each starting with its "
                  "preamble: %s",
        (unsigned)nchan, list);
    for (i = 0; i < nchan; i++) {
        uint8_t pre[ACCORD_PREAMBLE_LEN];
        chan_fd[i] = connect_to(port);
        if (chan_fd[i] < 0) die("source", "connect channel");
        accord_source_channel_preamble(&src, chans[i].role, chans[i].index, pre);
        if (write_all(chan_fd[i], pre, sizeof pre) < 0) die("source", "send preamble");
    }

    for (;;) {
        struct pollfd pf = {main_fd, POLLIN, 0};
        uint64_t deadline;
        accord_event ev;
        bool allowed = false;
        accord_source_poll_timeout(&src, &deadline);
        if (poll(&pf, 1, poll_ms(deadline)) > 0) {
            ssize_t r = read(main_fd, in + have, sizeof in - have);
            if (r == 0) {
                accord_state st;
                accord_source_state(&src, &st);
                if (st != ACCORD_STATE_FAILED) {
                    say("source", "main channel closed by the destination");
                    report(report_fd, "main channel closed");
                    return 1;
                }
            } else if (r > 0) {
                size_t used = 0;
                have += (size_t)r;
                accord_source_handle_input(&src, now_ms(), in, have, &used);
                memmove(in, in + used, have - used);
                have -= used;
            }
        }
        accord_source_handle_timeout(&src, now_ms());
        source_flush(main_fd);
        while (accord_source_poll_event(&src, &ev) == ACCORD_OK && ev.kind != ACCORD_EVENT_NONE) {
            accord_enabled agreed[ACCORD_MAX_CAPABILITIES];
            size_t n = 0;
            accord_error_info e;
            switch (ev.kind) {
            case ACCORD_EVENT_NEGOTIATED:
                accord_source_agreement(&src, NULL, agreed, ACCORD_MAX_CAPABILITIES, &n);
                caps_text(agreed, n, text, sizeof text);
                say("source", "Welcome v%u checked (same outcome computed here): %s", ev.version, text);
                break;
            case ACCORD_EVENT_CHANNELS_READY:
                say("source", "ChannelsReady: the destination named every channel");
                break;
            case ACCORD_EVENT_SWITCHOVER_ACKED:
                say("source", "SwitchoverAck #%u received", (unsigned)ev.epoch);
                break;
            case ACCORD_EVENT_FAILED:
                accord_source_verdict(&src, &e);
                error_text(&e, text, sizeof text);
                say("source", "FAILED: %s%s", text, ev.by_peer ? "  [reported by the destination]" : "");
                source_flush(main_fd);
                report(report_fd, text);
                linger_close(main_fd);
                return 1;
            default:
                break;
            }
        }
        accord_source_can_switchover(&src, &allowed);
        if (allowed) {
            uint64_t t = now_ms();
            say("source", "switchover allowed after %llu ms (migration_can_switchover() is true)",
                (unsigned long long)(t - start));
            accord_source_start_switchover(&src, t);
            source_flush(main_fd);
            say("source", "SwitchoverStart sent: the VM stops here");
            report(report_fd, "ok");
            linger_close(main_fd);
            for (i = 0; i < nchan; i++) close(chan_fd[i]);
            accord_source_deinit(&src);
            return 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Destination                                                         */

static accord_destination dst;

struct conn {
    int fd;
    int id;           /* accept order, from 1 */
    int port;         /* peer port */
    int main;         /* the main channel */
    int named;        /* preamble accepted (held or assigned) */
    accord_channel ch;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    size_t have;
};
static struct conn conns[MAX_CONNS];
static size_t nconns;
static int main_idx = -1;
static uint8_t main_in[ACCORD_BUFFER_SIZE];
static size_t main_have;

static int dest_flush(void) {
    static uint8_t out[ACCORD_BUFFER_SIZE];
    size_t n;
    if (main_idx < 0) return 0;
    for (;;) {
        if (accord_destination_poll_transmit(&dst, now_ms(), out, sizeof out, &n) != ACCORD_OK || n == 0)
            return 0;
        if (write_all(conns[main_idx].fd, out, n) < 0) return -1;
    }
}

static struct conn *conn_for(accord_channel ch) {
    size_t i;
    for (i = 0; i < nconns; i++)
        if (conns[i].named && conns[i].ch.role == ch.role && conns[i].ch.index == ch.index) return &conns[i];
    return NULL;
}

static void drop_conn(struct conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static void main_input(void) {
    size_t used = 0;
    accord_destination_handle_input(&dst, now_ms(), main_in, main_have, &used);
    memmove(main_in, main_in + used, main_have - used);
    main_have -= used;
}

/* A new connection's first bytes: its preamble says what it is. */
static void identify(struct conn *c) {
    accord_preamble p;
    accord_error_info e;
    accord_assignment a;
    char text[512];
    accord_result rc = accord_preamble_decode(c->pre, c->have, &p, &e);
    if (rc == ACCORD_NEED_MORE) return;
    if (rc != ACCORD_OK) {
        error_text(&e, text, sizeof text);
        say("destination", "connection #%d refused: %s", c->id, text);
        drop_conn(c);
        return;
    }
    if (p.role == ACCORD_ROLE_MAIN) {
        c->main = 1;
        main_idx = (int)(c - conns);
        say("destination", "connection #%d (port %d) is the main channel", c->id, c->port);
        memcpy(main_in, c->pre, c->have);
        main_have = c->have;
        main_input();
        return;
    }
    rc = accord_destination_accept_channel(&dst, now_ms(), &p, &a);
    if (rc != ACCORD_OK) {
        accord_destination_last_error(&dst, &e);
        error_text(&e, text, sizeof text);
        say("destination", "connection #%d refused: %s", c->id, text);
        drop_conn(c);
        return;
    }
    c->named = 1;
    c->ch = a.channel;
    if (a.status == ACCORD_ASSIGN_HELD)
        say("destination", "connection #%d (port %d) says %s %u; Hello not yet read: held", c->id, c->port,
            accord_role_name(p.role), (unsigned)p.index);
}

static int run_destination(enum scenario sc, int listen_fd, int report_fd, int ready_fd) {
    accord_destination_config cfg;
    accord_cap_offer no_ack = {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_NONE, 0};
    uint64_t due[N_DEVICES] = {0, 0, 0};
    int approved[N_DEVICES] = {0, 0, 0};
    size_t i;
    int can = 0;
    char text[512];

    set_nonblock(listen_fd);
    accord_destination_config_default(&cfg);
    if (sc == CAP_ONE_SIDE) { /* this destination cannot do switchover-ack */
        cfg.caps = &no_ack;
        cfg.n_caps = 1;
    }
    if (sc == DEVICE_UNSUPPORTED) DEVICES[2].destination_supports_ack = false;
    accord_destination_init(&dst, &cfg, now_ms());
    for (i = 0; i < N_DEVICES; i++) {
        accord_destination_register_device(&dst, DEVICES[i].name, 0, DEVICES[i].destination_supports_ack, NULL);
        can += DEVICES[i].destination_supports_ack;
    }
    say("destination", "listening; %d devices registered, %d can ack%s; no capability settings needed",
        N_DEVICES, can, sc == CAP_ONE_SIDE ? "; switchover-ack NOT supported here" : "");
    if (write(ready_fd, "R", 1) != 1) die("destination", "signal readiness");
    close(ready_fd);

    for (;;) {
        struct pollfd pf[MAX_CONNS + 1];
        struct conn *map[MAX_CONNS + 1];
        size_t np = 0;
        uint64_t deadline, now;
        accord_event ev;
        accord_destination_poll_timeout(&dst, &deadline);
        for (i = 0; i < N_DEVICES; i++)
            if (due[i] && !approved[i] && due[i] < deadline) deadline = due[i];
        pf[np].fd = listen_fd, pf[np].events = POLLIN, map[np++] = NULL;
        for (i = 0; i < nconns; i++)
            if (conns[i].fd >= 0) pf[np].fd = conns[i].fd, pf[np].events = POLLIN, map[np++] = &conns[i];
        if (poll(pf, np, poll_ms(deadline)) > 0) {
            size_t k;
            if (pf[0].revents & POLLIN) {
                for (;;) {
                    struct sockaddr_in peer;
                    socklen_t len = sizeof peer;
                    int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    if (nconns == MAX_CONNS) {
                        close(fd);
                        continue;
                    }
                    memset(&conns[nconns], 0, sizeof conns[nconns]);
                    conns[nconns].fd = fd;
                    conns[nconns].id = (int)nconns + 1;
                    conns[nconns].port = ntohs(peer.sin_port);
                    nconns++;
                }
            }
            for (k = 1; k < np; k++) {
                struct conn *c = map[k];
                if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)) || c->fd < 0) continue;
                if (c->main) {
                    ssize_t r = read(c->fd, main_in + main_have, sizeof main_in - main_have);
                    if (r <= 0) {
                        accord_state st;
                        accord_destination_state(&dst, &st);
                        drop_conn(c);
                        if (st != ACCORD_STATE_FAILED && st != ACCORD_STATE_SWITCHED_OVER) {
                            say("destination", "main channel closed by the source");
                            report(report_fd, "main channel closed");
                            return 1;
                        }
                        continue;
                    }
                    main_have += (size_t)r;
                    main_input();
                } else if (!c->named) {
                    ssize_t r = read(c->fd, c->pre + c->have, sizeof c->pre - c->have);
                    if (r <= 0) {
                        drop_conn(c);
                        continue;
                    }
                    c->have += (size_t)r;
                    identify(c);
                } else {
                    /* A named channel: in a real migration, RAM pages. Here, EOF at the end. */
                    uint8_t junk[4096];
                    if (read(c->fd, junk, sizeof junk) <= 0) drop_conn(c);
                }
            }
        }
        now = now_ms();
        accord_destination_handle_timeout(&dst, now);
        for (i = 0; i < N_DEVICES; i++) {
            if (due[i] && !approved[i] && due[i] <= now) {
                approved[i] = 1;
                accord_destination_approve(&dst, now, (uint16_t)i);
            }
        }
        while (accord_destination_poll_event(&dst, &ev) == ACCORD_OK && ev.kind != ACCORD_EVENT_NONE) {
            accord_enabled agreed[ACCORD_MAX_CAPABILITIES];
            accord_device_info info;
            accord_error_info e;
            struct conn *c;
            size_t n = 0;
            uint16_t pending = 0;
            switch (ev.kind) {
            case ACCORD_EVENT_NEGOTIATED:
                accord_destination_agreement(&dst, NULL, agreed, ACCORD_MAX_CAPABILITIES, &n);
                caps_text(agreed, n, text, sizeof text);
                accord_destination_pending(&dst, &pending);
                say("destination", "Hello read; Welcome v%u: %s", ev.version, text);
                say("destination", "%u of %d devices take part in switchover-ack", pending, N_DEVICES);
                for (i = 0; i < N_DEVICES; i++) {
                    accord_destination_device(&dst, (uint16_t)i, &info);
                    if (info.participates) due[i] = now + DEVICES[i].approve_after_ms;
                }
                break;
            case ACCORD_EVENT_CHANNEL_ASSIGNED:
                c = conn_for(ev.channel);
                say("destination", "channel named: %s %u (connection #%d, port %d)",
                    accord_role_name(ev.channel.role), (unsigned)ev.channel.index, c ? c->id : 0, c ? c->port : 0);
                break;
            case ACCORD_EVENT_CHANNEL_REFUSED:
                c = conn_for(ev.channel);
                say("destination", "channel refused: %s %u: %s", accord_role_name(ev.channel.role),
                    (unsigned)ev.channel.index, accord_strerror(ev.code));
                if (c) drop_conn(c);
                break;
            case ACCORD_EVENT_CHANNELS_READY:
                say("destination", "every negotiated channel is attached: ChannelsReady sent");
                break;
            case ACCORD_EVENT_DEVICE_APPROVED:
                accord_destination_device(&dst, ev.device, &info);
                say("destination", "%s: initial data loaded, approved (%u pending)", info.name, ev.pending);
                break;
            case ACCORD_EVENT_SWITCHOVER_ACKED:
                say("destination", "SwitchoverAck #%u sent", (unsigned)ev.epoch);
                break;
            case ACCORD_EVENT_SWITCHOVER_STARTED:
                say("destination", "SwitchoverStart received (epoch %u): handshake complete", (unsigned)ev.epoch);
                report(report_fd, "ok");
                if (main_idx >= 0) linger_close(conns[main_idx].fd);
                accord_destination_deinit(&dst);
                return 0;
            case ACCORD_EVENT_FAILED:
                accord_destination_verdict(&dst, &e);
                error_text(&e, text, sizeof text);
                say("destination", "FAILED: %s%s", text,
                    ev.by_peer ? "  [reported by the source]" : "  -> telling the source");
                dest_flush(); /* the Reject or Abort */
                report(report_fd, text);
                if (main_idx >= 0) linger_close(conns[main_idx].fd);
                return 1;
            default:
                break;
            }
        }
        dest_flush();
    }
}

/* ------------------------------------------------------------------ */
/* Parent                                                              */

struct child {
    pid_t pid;
    int report;
    int status;
    double exit_ms;
    char verdict[512];
};

static pid_t spawn(char **argv) {
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

static int run_scenario(enum scenario sc, int multifd) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    int rp_d[2], rp_s[2], ready[2];
    char s_lfd[16], s_port[16], s_t0[32], s_rep_d[16], s_rep_s[16], s_mfd[16], s_ready[16];
    struct child kids[2];
    uint64_t limit;
    int i, running = 2, port, ok;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 512) < 0) die("demo", "listen");
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    port = ntohs(a.sin_port);
    if (pipe(rp_d) < 0 || pipe(rp_s) < 0 || pipe(ready) < 0) die("demo", "pipe");
    snprintf(s_lfd, sizeof s_lfd, "%d", lfd);
    snprintf(s_port, sizeof s_port, "%d", port);
    snprintf(s_t0, sizeof s_t0, "%llu", (unsigned long long)t0_ns);
    snprintf(s_rep_d, sizeof s_rep_d, "%d", rp_d[1]);
    snprintf(s_rep_s, sizeof s_rep_s, "%d", rp_s[1]);
    snprintf(s_mfd, sizeof s_mfd, "%d", multifd);
    snprintf(s_ready, sizeof s_ready, "%d", ready[1]);
    {
        char *dargv[] = {"accord-demo", "--destination", (char *)SCENARIO_ARG[sc], s_mfd, s_lfd, s_t0, s_rep_d, s_ready, NULL};
        char *sargv[] = {"accord-demo", "--source", (char *)SCENARIO_ARG[sc], s_mfd, s_port, s_t0, s_rep_s, s_ready, NULL};
        struct pollfd pf = {ready[0], POLLIN, 0};
        char r;
        kids[0].pid = spawn(dargv);
        close(ready[1]);
        /* The source starts once the destination is ready (bounded wait). */
        if (poll(&pf, 1, 2000) <= 0 || read(ready[0], &r, 1) != 1) say("demo", "destination not ready");
        close(ready[0]);
        kids[1].pid = spawn(sargv);
    }
    close(lfd);
    close(rp_d[1]);
    close(rp_s[1]);
    kids[0].report = rp_d[0];
    kids[1].report = rp_s[0];
    for (i = 0; i < 2; i++) kids[i].status = -1, kids[i].verdict[0] = 0;
    limit = now_ms() + 10000;
    while (running > 0) {
        for (i = 0; i < 2; i++) {
            int st;
            if (kids[i].status != -1) continue;
            if (waitpid(kids[i].pid, &st, WNOHANG) == kids[i].pid) {
                kids[i].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                kids[i].exit_ms = (double)(mono_ns() - t0_ns) / 1e6;
                running--;
            }
        }
        if (running > 0 && now_ms() > limit) {
            say("demo", "still running after 10 s: killing");
            for (i = 0; i < 2; i++)
                if (kids[i].status == -1) kill(kids[i].pid, SIGKILL);
            limit = ~(uint64_t)0;
        }
        if (running > 0) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    for (i = 0; i < 2; i++) {
        ssize_t r = read(kids[i].report, kids[i].verdict, sizeof kids[i].verdict - 1);
        kids[i].verdict[r > 0 ? r : 0] = 0;
        close(kids[i].report);
    }
    printf("%9.1f ms  %-11s  destination exited %d at %.1f ms, source exited %d at %.1f ms\n",
           (double)(mono_ns() - t0_ns) / 1e6, "demo", kids[0].status, kids[0].exit_ms, kids[1].status,
           kids[1].exit_ms);
    if (sc == HAPPY) {
        ok = kids[0].status == 0 && kids[1].status == 0;
        printf("  -> %s\n", ok ? "handshake complete on both sides" : "HANDSHAKE FAILED");
    } else {
        ok = kids[0].status != 0 && kids[1].status != 0 && kids[0].verdict[0] &&
             strcmp(kids[0].verdict, kids[1].verdict) == 0 && strcmp(kids[0].verdict, "ok") != 0 &&
             kids[0].exit_ms < 1000 && kids[1].exit_ms < 1000;
        if (ok)
            printf("  -> both processes failed within a second (exit %d and %d) with the same error:\n"
                   "     %s\n",
                   kids[0].status, kids[1].status, kids[0].verdict);
        else
            printf("  -> UNEXPECTED: destination \"%s\", source \"%s\"\n", kids[0].verdict, kids[1].verdict);
    }
    fflush(stdout);
    return ok ? 0 : 1;
}

static enum scenario parse_scenario(const char *s) {
    int i;
    for (i = 0; i < 3; i++)
        if (strcmp(s, SCENARIO_ARG[i]) == 0) return (enum scenario)i;
    fprintf(stderr, "unknown scenario %s\n", s);
    exit(2);
}

int main(int argc, char **argv) {
    int multifd = 4, i, rc = 0;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 8 && (strcmp(argv[1], "--destination") == 0 || strcmp(argv[1], "--source") == 0)) {
        enum scenario sc = parse_scenario(argv[2]);
        multifd = atoi(argv[3]);
        t0_ns = strtoull(argv[5], NULL, 10);
        alarm(CHILD_ALARM_S);
        if (strcmp(argv[1], "--destination") == 0)
            return run_destination(sc, atoi(argv[4]), atoi(argv[6]), atoi(argv[7]));
        close(atoi(argv[7]));
        return run_source(sc, multifd, atoi(argv[4]), atoi(argv[6]));
    }
    for (i = 1; i + 1 < argc && strcmp(argv[i], "--multifd") == 0; i += 2) multifd = atoi(argv[i + 1]);
    if (i != argc - 1 || multifd < 1 || multifd > 255 ||
        (strcmp(argv[i], "happy") != 0 && strcmp(argv[i], "fail") != 0)) {
        fprintf(stderr, "usage: %s [--multifd N] happy|fail\n", argv[0]);
        return 2;
    }
    if (accord_version_number() != ACCORD_VERSION_NUMBER) {
        fprintf(stderr, "accord.h %s does not match libaccord %s\n", ACCORD_VERSION_STRING, accord_version());
        return 2;
    }
    if (strcmp(argv[i], "happy") == 0) {
        t0_ns = mono_ns();
        printf("\n== accord %s: migration handshake over loopback TCP: main + %d multifd + preempt "
               "channels, 3 devices, the GPU slow to approve ==\n",
               accord_version(), multifd);
        return run_scenario(HAPPY, multifd);
    }
    t0_ns = mono_ns();
    printf("\n== seed 000: switchover-ack required by the source, not supported by the destination "
           "(QEMU: the source waits forever) ==\n");
    rc |= run_scenario(CAP_ONE_SIDE, multifd);
    t0_ns = mono_ns();
    printf("\n== seed 000: the source wants the ack for a device the destination cannot serve "
           "(QEMU: the pending count never reaches 0) ==\n");
    rc |= run_scenario(DEVICE_UNSUPPORTED, multifd);
    return rc;
}
