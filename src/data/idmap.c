/* idmap.c: external string id <-> dense index.
 *
 * Ids are stored back to back in one arena (each NUL-terminated) with an offsets array, and
 * looked up through an open-addressing table (linear probing, power-of-two size, load <= 0.5)
 * of int32 indices keyed by a 64-bit FNV-1a hash of the bytes. Interning is amortized O(1);
 * lookups never allocate and are safe from many threads once writing has stopped.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

struct mq_idmap {
    char *arena;          /* ids, NUL-terminated, back to back */
    size_t arena_len, arena_cap;
    int64_t *off;         /* [n] offset of id i in arena */
    int32_t n, cap_ids;
    int32_t *slots;       /* [n_slots] index or -1 */
    uint32_t *slot_hash;  /* [n_slots] low 32 bits of the hash, to skip most memcmp */
    size_t n_slots;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

mq_idmap *mq_idmap_create(void)
{
    mq_idmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->n_slots = 64;
    m->slots = malloc(m->n_slots * sizeof *m->slots);
    m->slot_hash = malloc(m->n_slots * sizeof *m->slot_hash);
    if (!m->slots || !m->slot_hash) { mq_idmap_destroy(m); return NULL; }
    memset(m->slots, 0xff, m->n_slots * sizeof *m->slots);
    return m;
}

void mq_idmap_destroy(mq_idmap *m)
{
    if (!m) return;
    free(m->arena);
    free(m->off);
    free(m->slots);
    free(m->slot_hash);
    free(m);
}

static size_t probe(const mq_idmap *m, const char *id, size_t len, uint64_t h, bool *found)
{
    size_t mask = m->n_slots - 1, i = h & mask;
    uint32_t h32 = (uint32_t)(h >> 32);
    for (;;) {
        int32_t k = m->slots[i];
        if (k < 0) { *found = false; return i; }
        if (m->slot_hash[i] == h32) {
            const char *s = m->arena + m->off[k];
            if (strncmp(s, id, len) == 0 && s[len] == 0 && memchr(id, 0, len) == NULL) {
                *found = true;
                return i;
            }
        }
        i = (i + 1) & mask;
    }
}

static int grow_table(mq_idmap *m)
{
    size_t n_slots = m->n_slots * 2;
    int32_t *slots = malloc(n_slots * sizeof *slots);
    uint32_t *sh = malloc(n_slots * sizeof *sh);
    if (!slots || !sh) { free(slots); free(sh); return -1; }
    memset(slots, 0xff, n_slots * sizeof *slots);
    for (int32_t k = 0; k < m->n; k++) {
        const char *s = m->arena + m->off[k];
        uint64_t h = hash_bytes(s, strlen(s));
        size_t i = h & (n_slots - 1);
        while (slots[i] >= 0) i = (i + 1) & (n_slots - 1);
        slots[i] = k;
        sh[i] = (uint32_t)(h >> 32);
    }
    free(m->slots);
    free(m->slot_hash);
    m->slots = slots;
    m->slot_hash = sh;
    m->n_slots = n_slots;
    return 0;
}

int32_t mq_idmap_find(const mq_idmap *m, const char *id, size_t len)
{
    bool found;
    size_t i = probe(m, id, len, hash_bytes(id, len), &found);
    return found ? m->slots[i] : -1;
}

int32_t mq_idmap_intern(mq_idmap *m, const char *id, size_t len)
{
    uint64_t h = hash_bytes(id, len);
    bool found;
    size_t i = probe(m, id, len, h, &found);
    if (found) return m->slots[i];
    if (m->n == INT32_MAX) return -1;
    if (m->n == m->cap_ids) {
        int32_t cap = m->cap_ids ? m->cap_ids * 2 : 1024;
        int64_t *off = realloc(m->off, (size_t)cap * sizeof *off);
        if (!off) return -1;
        m->off = off;
        m->cap_ids = cap;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 8192;
        while (cap < m->arena_len + len + 1) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, id, len);
    m->arena[m->arena_len + len] = 0;
    m->off[m->n] = (int64_t)m->arena_len;
    m->arena_len += len + 1;
    int32_t k = m->n++;
    m->slots[i] = k;
    m->slot_hash[i] = (uint32_t)(h >> 32);
    if ((size_t)m->n * 2 > m->n_slots && grow_table(m) != 0) return -1;
    return k;
}

const char *mq_idmap_name(const mq_idmap *m, int32_t i) { return m->arena + m->off[i]; }
int32_t mq_idmap_size(const mq_idmap *m) { return m->n; }
