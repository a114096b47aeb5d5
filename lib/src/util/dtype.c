#include "ckpt/dtype.h"
#include "ckpt/error.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *py; /* tf.DType.name */
	const char *tf; /* DataTypeString */
	unsigned char size;
} dtypes[CKPT_DT_COUNT_] = {
    [CKPT_DT_INVALID] = {"invalid", "invalid", 0},
    [CKPT_DT_FLOAT] = {"float32", "float", 4},
    [CKPT_DT_DOUBLE] = {"float64", "double", 8},
    [CKPT_DT_INT32] = {"int32", "int32", 4},
    [CKPT_DT_UINT8] = {"uint8", "uint8", 1},
    [CKPT_DT_INT16] = {"int16", "int16", 2},
    [CKPT_DT_INT8] = {"int8", "int8", 1},
    [CKPT_DT_STRING] = {"string", "string", 0},
    [CKPT_DT_COMPLEX64] = {"complex64", "complex64", 8},
    [CKPT_DT_INT64] = {"int64", "int64", 8},
    [CKPT_DT_BOOL] = {"bool", "bool", 1},
    [CKPT_DT_QINT8] = {"qint8", "qint8", 1},
    [CKPT_DT_QUINT8] = {"quint8", "quint8", 1},
    [CKPT_DT_QINT32] = {"qint32", "qint32", 4},
    [CKPT_DT_BFLOAT16] = {"bfloat16", "bfloat16", 2},
    [CKPT_DT_QINT16] = {"qint16", "qint16", 2},
    [CKPT_DT_QUINT16] = {"quint16", "quint16", 2},
    [CKPT_DT_UINT16] = {"uint16", "uint16", 2},
    [CKPT_DT_COMPLEX128] = {"complex128", "complex128", 16},
    [CKPT_DT_HALF] = {"float16", "half", 2},
    [CKPT_DT_RESOURCE] = {"resource", "resource", 0},
    [CKPT_DT_VARIANT] = {"variant", "variant", 0},
    [CKPT_DT_UINT32] = {"uint32", "uint32", 4},
    [CKPT_DT_UINT64] = {"uint64", "uint64", 8},
};

static int known(int dtype)
{
	return dtype > CKPT_DT_INVALID && dtype < CKPT_DT_COUNT_;
}

size_t ckpt_dtype_size(int dtype)
{
	return known(dtype) ? dtypes[dtype].size : 0;
}

const char *ckpt_dtype_name(int dtype)
{
	return known(dtype) ? dtypes[dtype].py : "invalid";
}

const char *ckpt_dtype_tf_name(int dtype)
{
	return known(dtype) ? dtypes[dtype].tf : "invalid";
}

int ckpt_dtype_is_numeric(int dtype)
{
	return ckpt_dtype_size(dtype) != 0;
}

/* The C++ names that differ from the Python ones, and common short names
 * (each means one dtype only). */
static const struct {
	const char *alias;
	ckpt_dtype dt;
} aliases[] = {
    {"half", CKPT_DT_HALF},	{"float", CKPT_DT_FLOAT}, {"double", CKPT_DT_DOUBLE},
    {"bf16", CKPT_DT_BFLOAT16}, {"fp16", CKPT_DT_HALF},	  {"f16", CKPT_DT_HALF},
    {"fp32", CKPT_DT_FLOAT},	{"f32", CKPT_DT_FLOAT},	  {"fp64", CKPT_DT_DOUBLE},
    {"f64", CKPT_DT_DOUBLE},
};

void ckpt_dtype_names(char *buf, size_t size)
{
	size_t len = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	for (int i = 1; i < CKPT_DT_COUNT_; i++)
		if (len < size && (dtypes[i].size || i == CKPT_DT_STRING))
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
						dtypes[i].py);
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "; also ",
						aliases[i].alias);
}

int ckpt_dtype_parse(const char *name, ckpt_dtype *out)
{

	if (strncmp(name, "DT_", 3) == 0) {
		static const char *upper[CKPT_DT_COUNT_] = {
		    "INVALID",	  "FLOAT",  "DOUBLE",	 "INT32",   "UINT8",   "INT16",
		    "INT8",	  "STRING", "COMPLEX64", "INT64",   "BOOL",    "QINT8",
		    "QUINT8",	  "QINT32", "BFLOAT16",	 "QINT16",  "QUINT16", "UINT16",
		    "COMPLEX128", "HALF",   "RESOURCE",	 "VARIANT", "UINT32",  "UINT64"};
		for (int i = 1; i < CKPT_DT_COUNT_; i++) {
			if (strcmp(name + 3, upper[i]) == 0) {
				*out = (ckpt_dtype)i;
				return 0;
			}
		}
		return CKPT_EINVAL;
	}
	for (int i = 1; i < CKPT_DT_COUNT_; i++) {
		if (strcmp(name, dtypes[i].py) == 0) {
			*out = (ckpt_dtype)i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(name, aliases[i].alias) == 0) {
			*out = aliases[i].dt;
			return 0;
		}
	}
	return CKPT_EINVAL;
}
