/*
 * ckpt-dump CHECKPOINT: every tensor with its values, as JSON, for tests.
 * Verifies every stored piece's CRC first. Numbers print with 17
 * significant digits; half/bfloat16 as their raw 16-bit patterns; strings
 * as hex. Exit 0, or 1 with the library's message on stderr.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"

/* JSON has no NaN, infinity or negative zero: those print as strings
 * "bits:HEX" with the exact bit pattern, so payloads and signs survive. */
static void put_float(double x, uint64_t bits, int width)
{
	if (x != x || x - x != 0 || (x == 0 && signbit(x)))
		printf("\"bits:%0*llx\"", width, (unsigned long long)bits);
	else
		printf("%.17g", x);
}

static void put_value(ckpt_dtype dt, const uint8_t *p)
{
	union {
		float f;
		double d;
		int8_t i8;
		int16_t i16;
		int32_t i32;
		int64_t i64;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
		uint8_t bytes[16]; /* complex128, the widest element */
	} v;
	memcpy(&v, p, ckpt_dtype_size(dt));
	switch (dt) {
	case CKPT_DT_FLOAT: put_float((double)v.f, v.u32, 8); break;
	case CKPT_DT_DOUBLE: put_float(v.d, v.u64, 16); break;
	case CKPT_DT_INT8:
	case CKPT_DT_QINT8: printf("%d", v.i8); break;
	case CKPT_DT_INT16:
	case CKPT_DT_QINT16: printf("%d", v.i16); break;
	case CKPT_DT_INT32:
	case CKPT_DT_QINT32: printf("%" PRId32, v.i32); break;
	case CKPT_DT_INT64: printf("%" PRId64, v.i64); break;
	case CKPT_DT_UINT8:
	case CKPT_DT_QUINT8:
	case CKPT_DT_BOOL: printf("%u", v.u8); break;
	case CKPT_DT_UINT16:
	case CKPT_DT_QUINT16:
	case CKPT_DT_HALF:
	case CKPT_DT_BFLOAT16: printf("%u", v.u16); break;
	case CKPT_DT_UINT32: printf("%" PRIu32, v.u32); break;
	case CKPT_DT_UINT64: printf("%" PRIu64, v.u64); break;
	case CKPT_DT_COMPLEX64:
	case CKPT_DT_COMPLEX128: {
		size_t half = ckpt_dtype_size(dt) / 2;
		putchar('[');
		for (int k = 0; k < 2; k++) {
			if (k)
				printf(", ");
			put_value(half == 4 ? CKPT_DT_FLOAT : CKPT_DT_DOUBLE, p + k * half);
		}
		putchar(']');
		break;
	}
	default: printf("null"); break;
	}
}

/* A name as a JSON string body: quotes, backslashes and control bytes
 * escaped; other bytes as they are (a hostile name need not be UTF-8:
 * read the output with errors="surrogateescape"). */
static void put_name(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
}

static int dump(const ckpt_reader *r, size_t i)
{
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	ckpt_error err = CKPT_ERROR_INIT;
	for (size_t p = 0; p < t->num_pieces; p++)
		if (ckpt_reader_verify_piece(r, i, p, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
	printf("{\"name\": \"");
	put_name(t->name);
	printf("\", \"dtype\": \"%s\", \"shape\": [", ckpt_dtype_name(t->dtype));
	for (int d = 0; d < t->rank; d++)
		printf("%s%" PRId64, d ? ", " : "", t->dims[d]);
	printf("], \"values\": [");
	if (t->dtype == CKPT_DT_STRING) {
		char **s;
		uint64_t *l;
		if (ckpt_reader_read_strings(r, i, &s, &l, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		for (uint64_t k = 0; k < t->num_elements; k++) {
			printf("%s\"", k ? ", " : "");
			for (uint64_t b = 0; b < l[k]; b++)
				printf("%02x", (unsigned char)s[k][b]);
			putchar('"');
		}
		ckpt_reader_free_strings(s, l);
	} else if (ckpt_dtype_size(t->dtype)) {
		size_t es = ckpt_dtype_size(t->dtype);
		size_t n = (size_t)t->num_elements * es;
		uint8_t *buf = malloc(n ? n : 1);
		if (buf == NULL || ckpt_reader_read_slice(r, i, NULL, NULL, buf, n, &err)) {
			fprintf(stderr, "%s\n", buf ? err.msg : "out of memory");
			free(buf);
			return 1;
		}
		for (uint64_t k = 0; k < t->num_elements; k++) {
			if (k)
				printf(", ");
			put_value(t->dtype, buf + k * es);
		}
		free(buf);
	}
	printf("]}");
	return 0;
}

int main(int argc, char **argv)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;

	if (argc != 2) {
		fprintf(stderr, "usage: ckpt-dump CHECKPOINT\n");
		return 2;
	}
	if (ckpt_reader_open(&r, argv[1], &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	int rc = 0;
	printf("[");
	for (size_t i = 0; rc == 0 && i < ckpt_reader_count(r); i++) {
		if (i)
			printf(",\n ");
		rc = dump(r, i);
	}
	printf("]\n");
	ckpt_reader_close(r);
	return rc;
}
