/*
 * A small JSON reader for the tests' vector files (RFC 8259): objects,
 * arrays, strings (with the escapes \" \\ \/ \b \f \n \r \t, and \uXXXX
 * kept only when ASCII), numbers, true, false, null.  Not for peers' data.
 */
#ifndef TRIPKI_TEST_JSON_H
#define TRIPKI_TEST_JSON_H

#include <stddef.h>

enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

typedef struct json {
	int type;
	double num;                 /* JSON_NUM; JSON_BOOL: 0 or 1 */
	char *str;                  /* JSON_STR, NUL-terminated */
	size_t n;                   /* JSON_ARR, JSON_OBJ: members */
	struct json *v;             /* their values */
	char **k;                   /* JSON_OBJ: their names */
} json;

/* The whole text as one value; NULL if it is not JSON. */
json *json_parse(const char *text, size_t len);
/* The contents of a file; NULL if unreadable or not JSON. */
json *json_load(const char *path);
void json_free(json *j);
/* The member called key of an object; NULL if none (or j not an object). */
const json *json_get(const json *j, const char *key);
/* A member's string, or NULL. */
const char *json_str(const json *j, const char *key);
/* A member's number, or -1. */
double json_num(const json *j, const char *key);

#endif
