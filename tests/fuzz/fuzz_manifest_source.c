/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_manifest_source.c - libFuzzer target for the manifest source's last
 * good logic: a sequence of file versions, each applied to a directory
 * and loaded, as when an operator (or a power loss) rewrites files.
 *
 * Input: steps separated by "%%%\n". A step's first byte picks the file
 * (a.yaml, b.yaml, c.json: byte % 3) and what happens to it ((byte / 3) %
 * 4 == 3: deleted; else written with the rest of the step). Invariants,
 * after every step:
 *   - no crash, leak or undefined behaviour;
 *   - a file whose text is refused whole (syntax, NUL bytes) keeps exactly
 *     the objects it had; a valid text's objects are all there; an object
 *     the file held before that the new text rejects stays (last good);
 *     nothing else: every object is the text's or was the file's before;
 *   - when every file's text is valid, the view equals a fresh load.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source/decode.h"
#include "source/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_FILES   3
#define MAX_STEPS 16
#define MAX_IDS   4096

static const char *const names[N_FILES] = {"a.yaml", "b.yaml", "c.json"};
static char dir[64];
static char paths[N_FILES][128];

/* The identities of a file's objects in a view: "kind ns/name" strings, sorted. */
struct ids {
	char *v[MAX_IDS];
	size_t n;
	bool overflow;
};

static void ids_add(struct ids *s, char kind, const char *ns, const char *name)
{
	if (s->n == MAX_IDS) {
		s->overflow = true;
		return;
	}
	if (asprintf(&s->v[s->n], "%c %s/%s", kind, ns ? ns : "", name) < 0)
		abort();
	s->n++;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_clear(struct ids *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
	s->overflow = false;
}

static bool ids_has(const struct ids *s, const char *id)
{
	return bsearch(&id, s->v, s->n, sizeof(*s->v), str_cmp) != NULL;
}

/* The identities of m's objects whose origin is origin (all when NULL). */
static void ids_of(struct ids *s, const struct model *m, const char *origin)
{
	ids_clear(s);
	for (size_t i = 0; i < m->n_services; i++)
		if (!origin || !strcmp(m->services[i]->origin, origin))
			ids_add(s, 'S', m->services[i]->ns, m->services[i]->name);
	for (size_t i = 0; i < m->n_slices; i++)
		if (!origin || !strcmp(m->slices[i]->origin, origin))
			ids_add(s, 'E', m->slices[i]->ns, m->slices[i]->name);
	for (size_t i = 0; i < m->n_nodes; i++)
		if (!origin || !strcmp(m->nodes[i]->origin, origin))
			ids_add(s, 'N', NULL, m->nodes[i]->name);
	qsort(s->v, s->n, sizeof(*s->v), str_cmp);
}

/* Sorted, each identity once (duplicates within one file are left out of a view). */
static void ids_unique(struct ids *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (n && !strcmp(s->v[n - 1], s->v[i])) {
			free(s->v[i]);
			continue;
		}
		s->v[n++] = s->v[i];
	}
	s->n = n;
}

static bool ids_equal(const struct ids *a, const struct ids *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

/* The identities a source's view holds, each once. */
static void source_ids(struct ids *s, struct manifest_source *ms)
{
	struct model m = {0};
	struct diag d = {0};

	if (manifest_source_model(ms, &m, &d))
		abort();
	ids_of(s, &m, NULL);
	ids_unique(s);
	model_free_view(&m);
	diag_clear(&d);
}

/* "origin kind ns/name" of every object of a view, in view order, and its messages. */
static char *view_text(struct manifest_source *ms)
{
	struct model m = {0};
	struct diag d = {0};
	size_t len = 0;
	char *text = NULL;
	FILE *fp = open_memstream(&text, &len);

	if (!fp || manifest_source_model(ms, &m, &d))
		abort();
	for (size_t i = 0; i < m.n_services; i++)
		fprintf(fp, "%s S %s/%s %zu\n", m.services[i]->origin, m.services[i]->ns,
		        m.services[i]->name, m.services[i]->n_ports);
	for (size_t i = 0; i < m.n_slices; i++)
		fprintf(fp, "%s E %s/%s %zu\n", m.slices[i]->origin, m.slices[i]->ns,
		        m.slices[i]->name, m.slices[i]->n_endpoints);
	for (size_t i = 0; i < m.n_nodes; i++)
		fprintf(fp, "%s N %s\n", m.nodes[i]->origin, m.nodes[i]->name);
	for (size_t i = 0; i < d.n; i++)
		fprintf(fp, "%s\n", d.msgs[i]);
	fclose(fp);
	model_free_view(&m);
	diag_clear(&d);
	return text;
}

/* What a text decodes to: its valid objects' identities, and the rejected ones'. */
struct decoded {
	int ret; /* manifest_decode_buffer() */
	struct ids valid, rejected;
};

static void decode_text(struct decoded *dc, const char *path, const uint8_t *text, size_t len)
{
	static const char kinds[] = {[OBJ_SERVICE] = 'S', [OBJ_SLICE] = 'E', [OBJ_NODE] = 'N'};
	struct decode_rejects rej = {0};
	struct model m = {0};
	struct diag d = {0};

	dc->ret = manifest_decode_buffer(path, (const char *)text, len, NULL, &m, &d, &rej);
	ids_of(&dc->valid, &m, NULL);
	ids_unique(&dc->valid);
	ids_clear(&dc->rejected);
	for (size_t i = 0; i < rej.n; i++)
		if (rej.v[i].kind != OBJ_ENDPOINTS) /* stands for slices of other names */
			ids_add(&dc->rejected, kinds[rej.v[i].kind],
			        rej.v[i].kind == OBJ_NODE ? "" : rej.v[i].ns, rej.v[i].name);
	model_free(&m);
	diag_clear(&d);
	decode_rejects_clear(&rej);
}

/*
 * The last good rule for one file: before (b) and after (a) a new text
 * that decoded to dc.
 */
static void check_file(const struct ids *b, const struct ids *a, const struct decoded *dc)
{
	if (a->overflow || b->overflow || dc->valid.overflow)
		return;
	if (dc->ret < 0) { /* refused whole: nothing changes */
		if (!ids_equal(a, b))
			abort();
		return;
	}
	if (dc->ret == 0 && !ids_equal(a, &dc->valid)) /* all valid: exactly the text's */
		abort();
	for (size_t i = 0; i < dc->valid.n; i++) /* every valid object is there */
		if (!ids_has(a, dc->valid.v[i]))
			abort();
	for (size_t i = 0; i < a->n; i++) /* ... and nothing that was not the file's */
		if (!ids_has(&dc->valid, a->v[i]) && !ids_has(b, a->v[i]))
			abort();
	for (size_t i = 0; i < dc->rejected.n; i++) { /* rejected: the last good version stays */
		const char *id = dc->rejected.v[i];

		if (ids_has(b, id) && !ids_has(&dc->valid, id) && !ids_has(a, id))
			abort();
	}
}

static void write_file(const char *path, const uint8_t *text, size_t len)
{
	char tmp[160];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path); /* not a manifest name: not read */
	fp = fopen(tmp, "w");
	if (!fp || fwrite(text, 1, len, fp) != len || fclose(fp) || rename(tmp, path))
		abort();
}

static void setup_dir(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/fuzz-manifest-source-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	for (int i = 0; i < N_FILES; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, names[i]);
}

/* One step: the file it touches, and its new text (text, len), or NULL: deleted. */
static int parse_step(const uint8_t *p, size_t n, const uint8_t **text, size_t *len)
{
	int file = p[0] % N_FILES;

	*text = (p[0] / N_FILES) % 4 == 3 ? NULL : p + 1;
	*len = n - 1;
	return file;
}

/* Apply the step to the directory and every source; check the invariants. */
static void run_step(struct manifest_source *inc, struct manifest_source *const one[N_FILES],
                     const uint8_t *p, size_t n, int present[N_FILES], struct decoded dc[N_FILES])
{
	struct ids before = {0}, after = {0};
	const uint8_t *text;
	struct diag d = {0};
	size_t len;
	int f = parse_step(p, n, &text, &len);

	source_ids(&before, one[f]);
	if (text) {
		write_file(paths[f], text, len);
		decode_text(&dc[f], paths[f], text, len);
		present[f] = 1;
	} else if (present[f]) {
		unlink(paths[f]);
		present[f] = 0;
	}
	for (int i = 0; i < N_FILES; i++)
		manifest_source_load(one[i], &d);
	manifest_source_load(inc, &d);
	diag_clear(&d);
	source_ids(&after, one[f]);
	if (text)
		check_file(&before, &after, &dc[f]);
	else if (!ids_equal(&before, &after)) /* a file PATH gone: its objects stay */
		abort();
	ids_clear(&before);
	ids_clear(&after);
}

/* When every file present is valid, the view kept equals a fresh load's. */
static void check_fresh(struct manifest_source *inc, const int present[N_FILES],
                        const struct decoded dc[N_FILES])
{
	const char *p[] = {dir};
	struct manifest_source *ref;
	struct diag d = {0};
	char *a, *b;

	for (int i = 0; i < N_FILES; i++)
		if (present[i] && dc[i].ret != 0)
			return;
	ref = manifest_source_new(p, 1);
	manifest_source_set_workers(ref, 1);
	manifest_source_load(ref, &d);
	diag_clear(&d);
	a = view_text(inc);
	b = view_text(ref);
	if (strcmp(a, b))
		abort();
	free(a);
	free(b);
	manifest_source_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "%%%\n";
	struct manifest_source *inc, *one[N_FILES];
	struct decoded dc[N_FILES] = {0};
	int present[N_FILES] = {0};
	const char *p[1];
	size_t pos = 0;
	struct diag d = {0};

	setup_dir();
	for (int i = 0; i < N_FILES; i++) {
		unlink(paths[i]);
		p[0] = paths[i];
		one[i] = manifest_source_new(p, 1);
		manifest_source_set_workers(one[i], 1);
	}
	p[0] = dir;
	inc = manifest_source_new(p, 1);
	manifest_source_set_workers(inc, 1);
	manifest_source_load(inc, &d);
	for (int step = 0; step < MAX_STEPS && pos < size; step++) {
		const uint8_t *end = memmem(data + pos, size - pos, sep, sizeof(sep) - 1);
		size_t n = end ? (size_t)(end - (data + pos)) : size - pos;

		if (n)
			run_step(inc, one, data + pos, n, present, dc);
		check_fresh(inc, present, dc);
		pos += n + (end ? sizeof(sep) - 1 : 0);
	}
	for (int i = 0; i < N_FILES; i++) {
		manifest_source_free(one[i]);
		ids_clear(&dc[i].valid);
		ids_clear(&dc[i].rejected);
	}
	manifest_source_free(inc);
	diag_clear(&d);
	return 0;
}
