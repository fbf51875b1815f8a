/* A small JSON reader for the tests' vector files: see json.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "json.h"

#define JSON_DEPTH 32

struct rd {
	const char *p, *end;
};

static int value(struct rd *r, json *out, int depth);

static void
ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	    *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int
lit(struct rd *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return -1;
	r->p += n;
	return 0;
}

static int
string(struct rd *r, char **out)
{
	const char *s;
	char *o;
	size_t n = 0;
	int i, h, u;

	if (r->p >= r->end || *r->p != '"')
		return -1;
	s = ++r->p;
	/* The decoded string is never longer than the encoded one. */
	while (r->p < r->end && *r->p != '"')
		r->p += (*r->p == '\\' && r->p + 1 < r->end) ? 2 : 1;
	if (r->p >= r->end || (o = malloc((size_t)(r->p - s) + 1)) == NULL)
		return -1;
	for (; s < r->p; s++) {
		if ((unsigned char)*s < 0x20)
			goto bad;
		if (*s != '\\') {
			o[n++] = *s;
			continue;
		}
		switch (*++s) {
		case '"': case '\\': case '/': o[n++] = *s; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (r->p - s < 5)
				goto bad;
			for (u = 0, i = 1; i <= 4; i++) {
				if ((h = fx_hexval(s[i])) < 0)
					goto bad;
				u = u << 4 | h;
			}
			o[n++] = u < 0x80 ? (char)u : '?';
			s += 4;
			break;
		default:
			goto bad;
		}
	}
	o[n] = '\0';
	r->p++;
	*out = o;
	return 0;
bad:
	free(o);
	return -1;
}

static int
number(struct rd *r, json *out)
{
	char buf[64], *e;
	size_t n = 0;

	while (r->p + n < r->end && n < sizeof(buf) - 1 &&
	    strchr("+-0123456789.eE", r->p[n]) != NULL)
		n++;
	if (n == 0)
		return -1;
	memcpy(buf, r->p, n);
	buf[n] = '\0';
	out->num = strtod(buf, &e);
	if (*e != '\0')
		return -1;
	out->type = JSON_NUM;
	r->p += n;
	return 0;
}

/* Members of an array (keys == 0) or an object, up to the closing c. */
static int
members(struct rd *r, json *out, int keys, char c, int depth)
{
	size_t cap = 0;
	json *v;
	char **k;

	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return 0;
	}
	for (;;) {
		if (out->n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((v = realloc(out->v, cap * sizeof(*v))) == NULL)
				return -1;
			out->v = v;
			if (keys) {
				if ((k = realloc(out->k, cap * sizeof(*k))) == NULL)
					return -1;
				out->k = k;
			}
		}
		memset(&out->v[out->n], 0, sizeof(out->v[0]));
		if (keys) {
			ws(r);
			out->k[out->n] = NULL;
			if (string(r, &out->k[out->n]) != 0)
				return -1;
			ws(r);
			if (r->p >= r->end || *r->p++ != ':')
				goto count;
		}
		if (value(r, &out->v[out->n], depth + 1) != 0)
			goto count;
		out->n++;
		ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == c) {
			r->p++;
			return 0;
		}
		return -1;
	}
count:
	/* This member's name and value are freed with the others. */
	out->n++;
	return -1;
}

static int
value(struct rd *r, json *out, int depth)
{
	if (depth > JSON_DEPTH)
		return -1;
	ws(r);
	if (r->p >= r->end)
		return -1;
	switch (*r->p) {
	case '{':
		out->type = JSON_OBJ;
		return members(r, out, 1, '}', depth);
	case '[':
		out->type = JSON_ARR;
		return members(r, out, 0, ']', depth);
	case '"':
		out->type = JSON_STR;
		return string(r, &out->str);
	case 't':
		out->type = JSON_BOOL;
		out->num = 1;
		return lit(r, "true");
	case 'f':
		out->type = JSON_BOOL;
		return lit(r, "false");
	case 'n':
		out->type = JSON_NULL;
		return lit(r, "null");
	default:
		return number(r, out);
	}
}

static void
clear(json *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		clear(&j->v[i]);
		if (j->k != NULL)
			free(j->k[i]);
	}
	free(j->v);
	free(j->k);
	free(j->str);
}

void
json_free(json *j)
{
	if (j == NULL)
		return;
	clear(j);
	free(j);
}

json *
json_parse(const char *text, size_t len)
{
	struct rd r = { text, text + len };
	json *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	if (value(&r, j, 0) != 0) {
		json_free(j);
		return NULL;
	}
	ws(&r);
	if (r.p != r.end) {
		json_free(j);
		return NULL;
	}
	return j;
}

json *
json_load(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;
	json *j = NULL;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (b == NULL)
				goto out;
			buf = b;
		}
		if ((got = fread(buf + n, 1, cap - n, f)) == 0)
			break;
		n += got;
	}
	if (!ferror(f))
		j = json_parse(buf, n);
out:
	free(buf);
	fclose(f);
	return j;
}

const json *
json_get(const json *j, const char *key)
{
	size_t i;

	if (j == NULL || j->type != JSON_OBJ)
		return NULL;
	for (i = 0; i < j->n; i++)
		if (strcmp(j->k[i], key) == 0)
			return &j->v[i];
	return NULL;
}

const char *
json_str(const json *j, const char *key)
{
	const json *v = json_get(j, key);

	return v != NULL && v->type == JSON_STR ? v->str : NULL;
}

double
json_num(const json *j, const char *key)
{
	const json *v = json_get(j, key);

	return v != NULL && v->type == JSON_NUM ? v->num : -1;
}
