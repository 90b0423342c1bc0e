/*
 * The baseline a C hypervisor writes instead of accord: the same information
 * as accord's Hello and Welcome, in QEMU's style. Big-endian fixed-width
 * fields, length-prefixed idstr (u8 length, bytes), a QEMU_VM_COMMAND-like
 * header (u8 0x08, be16 command, be16 payload length). The writer and reader
 * mirror QEMUFile's put/get helpers with a bounded buffer: every read is
 * bounds-checked, every count is capped, and the decoder applies the same
 * checks accord's decoder does (ascending non-zero capability ids, catalog
 * parameters, booleans 0 or 1, idstr length 1..=64, no trailing bytes).
 * Names are copied into fixed char arrays, as qemu_get_counted_string does.
 *
 * Compiled at -O2 by build.rs (the cc crate); called from Rust through FFI.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qemu_style.h"

/* ---- writer: QEMUFile-style put helpers over a bounded buffer ---------- */

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    int err;
} QsWriter;

static inline void put_byte(QsWriter *w, uint8_t v)
{
    if (w->pos >= w->cap) {
        w->err = 1;
        return;
    }
    w->buf[w->pos++] = v;
}

static inline void put_be16(QsWriter *w, uint16_t v)
{
    put_byte(w, (uint8_t)(v >> 8));
    put_byte(w, (uint8_t)v);
}

static inline void put_be32(QsWriter *w, uint32_t v)
{
    put_be16(w, (uint16_t)(v >> 16));
    put_be16(w, (uint16_t)v);
}

static inline void put_buffer(QsWriter *w, const void *p, size_t n)
{
    if (n > w->cap - w->pos || w->pos > w->cap) {
        w->err = 1;
        return;
    }
    memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

/* QEMU_VM_COMMAND-like header; the length is patched by end_command(). */
static size_t begin_command(QsWriter *w, uint16_t cmd)
{
    put_byte(w, QS_VM_COMMAND);
    put_be16(w, cmd);
    size_t at = w->pos;
    put_be16(w, 0);
    return at;
}

static ptrdiff_t end_command(QsWriter *w, size_t len_at)
{
    size_t payload = w->pos - (len_at + 2);
    if (w->err || payload > QS_MAX_PAYLOAD) {
        return -1;
    }
    w->buf[len_at] = (uint8_t)(payload >> 8);
    w->buf[len_at + 1] = (uint8_t)payload;
    return (ptrdiff_t)w->pos;
}

static void put_caps(QsWriter *w, const QsCap *caps, uint8_t n)
{
    put_byte(w, n);
    for (uint8_t i = 0; i < n && i < QS_MAX_CAPS; i++) {
        put_be16(w, caps[i].id);
        put_byte(w, caps[i].required);
        put_be16(w, caps[i].param);
    }
}

ptrdiff_t qs_hello_encode(const QsHello *h, uint8_t *out, size_t cap)
{
    QsWriter w = { out, cap, 0, 0 };
    if (h->ncaps > QS_MAX_CAPS || h->ndevices > QS_MAX_DEVICES) {
        return -1;
    }
    size_t len_at = begin_command(&w, QS_CMD_HELLO);
    put_caps(&w, h->caps, h->ncaps);
    put_be32(&w, h->ndevices);
    for (uint32_t i = 0; i < h->ndevices; i++) {
        const QsDevice *d = &h->devices[i];
        if (d->name_len == 0 || d->name_len > QS_MAX_NAME) {
            return -1;
        }
        put_byte(&w, d->name_len);
        put_buffer(&w, d->name, d->name_len);
        put_be32(&w, d->instance);
        put_byte(&w, d->wants_ack);
    }
    return end_command(&w, len_at);
}

ptrdiff_t qs_welcome_encode(const QsWelcome *wl, uint8_t *out, size_t cap)
{
    QsWriter w = { out, cap, 0, 0 };
    if (wl->ncaps > QS_MAX_CAPS || wl->nenabled > QS_MAX_CAPS ||
        wl->nverdicts > QS_MAX_DEVICES) {
        return -1;
    }
    size_t len_at = begin_command(&w, QS_CMD_WELCOME);
    put_byte(&w, wl->version);
    put_caps(&w, wl->caps, wl->ncaps);
    put_byte(&w, wl->nenabled);
    for (uint8_t i = 0; i < wl->nenabled; i++) {
        put_be16(&w, wl->enabled[i].id);
        put_be16(&w, wl->enabled[i].param);
    }
    put_be32(&w, wl->nverdicts);
    for (uint32_t i = 0; i < wl->nverdicts; i++) {
        put_byte(&w, wl->verdicts[i]);
    }
    return end_command(&w, len_at);
}

/* ---- reader: QEMUFile-style get helpers, bounds-checked ---------------- */

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int err;
} QsReader;

static inline uint8_t get_byte(QsReader *r)
{
    if (r->pos >= r->len) {
        r->err = 1;
        return 0;
    }
    return r->buf[r->pos++];
}

static inline uint16_t get_be16(QsReader *r)
{
    uint16_t v = (uint16_t)get_byte(r) << 8;
    return v | get_byte(r);
}

static inline uint32_t get_be32(QsReader *r)
{
    uint32_t v = (uint32_t)get_be16(r) << 16;
    return v | get_be16(r);
}

static inline int get_buffer(QsReader *r, void *p, size_t n)
{
    if (r->pos > r->len || n > r->len - r->pos) {
        r->err = 1;
        return -1;
    }
    memcpy(p, r->buf + r->pos, n);
    r->pos += n;
    return 0;
}

static inline int get_bool(QsReader *r, uint8_t *out)
{
    uint8_t v = get_byte(r);
    if (v > 1) {
        r->err = 1;
        return -1;
    }
    *out = v;
    return 0;
}

/* The capability rules accord's decoder applies to a peer's offer. */
static int check_cap(const QsCap *prev, const QsCap *c)
{
    if (c->id == 0 || (prev && prev->id >= c->id)) {
        return -1;
    }
    if (c->id >= 1 && c->id <= 8) {
        int counted = c->id == 2 || c->id == 8;
        if (counted ? (c->param < 1 || c->param > 255) : c->param != 0) {
            return -1;
        }
    }
    return 0;
}

static int get_caps(QsReader *r, QsCap *caps, uint8_t *n)
{
    uint8_t count = get_byte(r);
    if (r->err || count > QS_MAX_CAPS) {
        return -1;
    }
    for (uint8_t i = 0; i < count; i++) {
        caps[i].id = get_be16(r);
        if (get_bool(r, &caps[i].required) < 0) {
            return -1;
        }
        caps[i].param = get_be16(r);
        if (r->err || check_cap(i ? &caps[i - 1] : NULL, &caps[i]) < 0) {
            return -1;
        }
    }
    *n = count;
    return 0;
}

/* Header check: section type, command, a length within the protocol limit
 * and within the bytes present. Returns the payload reader. */
static int open_command(const uint8_t *buf, size_t len, uint16_t cmd, QsReader *r)
{
    QsReader h = { buf, len, 0, 0 };
    uint8_t section = get_byte(&h);
    uint16_t c = get_be16(&h);
    uint16_t plen = get_be16(&h);
    if (h.err || section != QS_VM_COMMAND || c != cmd || plen > QS_MAX_PAYLOAD ||
        plen > len - h.pos) {
        return -1;
    }
    r->buf = buf + h.pos;
    r->len = plen;
    r->pos = 0;
    r->err = 0;
    return 0;
}

ptrdiff_t qs_hello_decode(const uint8_t *buf, size_t len, QsHello *h)
{
    QsReader r;
    if (open_command(buf, len, QS_CMD_HELLO, &r) < 0) {
        return -1;
    }
    if (get_caps(&r, h->caps, &h->ncaps) < 0) {
        return -1;
    }
    uint32_t n = get_be32(&r);
    if (r.err || n > QS_MAX_DEVICES) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        QsDevice *d = &h->devices[i];
        uint8_t nl = get_byte(&r);
        if (r.err || nl == 0 || nl > QS_MAX_NAME) {
            return -1;
        }
        if (get_buffer(&r, d->name, nl) < 0) {
            return -1;
        }
        d->name[nl] = '\0';
        d->name_len = nl;
        d->instance = get_be32(&r);
        if (get_bool(&r, &d->wants_ack) < 0) {
            return -1;
        }
    }
    if (r.err || r.pos != r.len) {
        return -1;
    }
    h->ndevices = n;
    return (ptrdiff_t)(5 + r.len);
}

ptrdiff_t qs_welcome_decode(const uint8_t *buf, size_t len, QsWelcome *wl)
{
    QsReader r;
    if (open_command(buf, len, QS_CMD_WELCOME, &r) < 0) {
        return -1;
    }
    wl->version = get_byte(&r);
    if (r.err || get_caps(&r, wl->caps, &wl->ncaps) < 0) {
        return -1;
    }
    uint8_t ne = get_byte(&r);
    if (r.err || ne > QS_MAX_CAPS) {
        return -1;
    }
    for (uint8_t i = 0; i < ne; i++) {
        wl->enabled[i].id = get_be16(&r);
        wl->enabled[i].param = get_be16(&r);
        if (r.err || (i && wl->enabled[i - 1].id >= wl->enabled[i].id)) {
            return -1;
        }
    }
    wl->nenabled = ne;
    uint32_t nv = get_be32(&r);
    if (r.err || nv > QS_MAX_DEVICES) {
        return -1;
    }
    for (uint32_t i = 0; i < nv; i++) {
        if (get_bool(&r, &wl->verdicts[i]) < 0) {
            return -1;
        }
    }
    if (r.err || r.pos != r.len) {
        return -1;
    }
    wl->nverdicts = nv;
    return (ptrdiff_t)(5 + r.len);
}

/* ---- channel identification, as QEMU does it --------------------------- */

/* accord's 28-byte preamble decoded with the same checks as
 * Preamble::decode: magic, version range, role, flags, index < total,
 * total 1 for main and preempt. Returns the role, or -1. */
int qs_preamble_decode(const uint8_t *b, size_t len, QsPreamble *p)
{
    static const uint8_t magic[4] = { 'A', 'C', 'R', 'D' };
    if (len < 28 || memcmp(b, magic, 4) != 0) {
        return -1;
    }
    uint8_t lo = b[4], hi = b[5], role = b[6], flags = b[7];
    if (lo < 1 || lo > hi || hi > 254 || role > 3 || (flags & ~1u) != 0) {
        return -1;
    }
    uint16_t index = (uint16_t)(b[8] << 8 | b[9]);
    uint16_t total = (uint16_t)(b[10] << 8 | b[11]);
    if (index >= total || ((role == 0 || role == 2) && total != 1)) {
        return -1;
    }
    p->min_version = lo;
    p->max_version = hi;
    p->role = role;
    p->flags = flags;
    p->index = index;
    p->total = total;
    memcpy(p->nonce, b + 12, 16);
    return role;
}

/* QEMU 10.1's migration_ioc_process_incoming: peek 4 bytes, QEVM means the
 * main channel, 0x11223344 a multifd channel; then for multifd the checks of
 * multifd_recv_initial_packet on the 64-byte MultiFDInit_t (magic, version
 * 1, uuid, id; accord's fix of the off-by-one: id < channels) and of
 * multifd_recv_new_channel (a channel id seen twice). A second main channel
 * is refused. Returns QS_LEGACY_MAIN or QS_LEGACY_MULTIFD (id in *id), or
 * -1 for anything else (including too few bytes, where QEMU would wait). */
int qs_legacy_classify(QsLegacyState *st, const uint8_t *b, size_t len,
                       const uint8_t uuid[16], uint8_t channels, uint8_t *id)
{
    if (len < 4) {
        return -1;
    }
    uint32_t magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (magic == QS_QEMU_VM_FILE_MAGIC) {
        if (st->main) {
            return -1;
        }
        st->main = 1;
        return QS_LEGACY_MAIN;
    }
    if (magic != QS_MULTIFD_MAGIC || len < 64) {
        return -1;
    }
    uint32_t version = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
    if (version != 1 || memcmp(b + 8, uuid, 16) != 0) {
        return -1;
    }
    uint8_t c = b[24];
    uint32_t bit = 1u << (c % 32);
    if (c >= channels || (st->seen[c / 32] & bit)) {
        return -1;
    }
    st->seen[c / 32] |= bit;
    st->count++;
    *id = c;
    return QS_LEGACY_MULTIFD;
}
