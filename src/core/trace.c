/* The step-by-step account behind --trace. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void
trace(const tripki_common *cm, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (cm == NULL || cm->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cm->trace(cm->trace_ctx, line);
}

const char *
trace_hex(const tripki_common *cm, char *dst, size_t dstlen,
    const uint8_t *p, size_t n, bool secret)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;

	if (secret && !cm->trace_secrets) {
		snprintf(dst, dstlen, "<redacted %zu bytes>", n);
		return dst;
	}
	for (i = 0; i < n && o + 3 < dstlen; i++) {
		dst[o++] = hx[p[i] >> 4];
		dst[o++] = hx[p[i] & 15];
	}
	if (i < n && o + 4 < dstlen) {
		dst[o - 3] = '.';
		dst[o - 2] = '.';
		dst[o - 1] = '.';
	}
	dst[o] = '\0';
	return dst;
}

const char *
trace_text(char *dst, size_t dstlen, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n && i < 60 && o + 5 < dstlen; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '"')
			dst[o++] = (char)p[i];
		else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hx[p[i] >> 4];
			dst[o++] = hx[p[i] & 15];
		}
	}
	if (i < n && o + 4 < dstlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

const char *
trace_time(char *dst, size_t dstlen, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, dstlen, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(dst, dstlen, "%lld", (long long)ms);
	else
		snprintf(dst + 19, dstlen > 19 ? dstlen - 19 : 0, ".%03dZ",
		    (int)(ms % 1000 + 1000) % 1000);
	return dst;
}
