/*
 * ckpt/dtype.h - TensorFlow's DataType numbering, element sizes and names,
 * and the largest tensor rank.
 */
#ifndef CKPT_DTYPE_H
#define CKPT_DTYPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest tensor rank accepted (TF allows 254; no real checkpoint is near). */
#define CKPT_MAX_RANK 64

/* Values are TensorFlow's DataType enum (types.proto). */
typedef enum ckpt_dtype {
	CKPT_DT_INVALID = 0,
	CKPT_DT_FLOAT = 1,
	CKPT_DT_DOUBLE = 2,
	CKPT_DT_INT32 = 3,
	CKPT_DT_UINT8 = 4,
	CKPT_DT_INT16 = 5,
	CKPT_DT_INT8 = 6,
	CKPT_DT_STRING = 7,
	CKPT_DT_COMPLEX64 = 8,
	CKPT_DT_INT64 = 9,
	CKPT_DT_BOOL = 10,
	CKPT_DT_QINT8 = 11,
	CKPT_DT_QUINT8 = 12,
	CKPT_DT_QINT32 = 13,
	CKPT_DT_BFLOAT16 = 14,
	CKPT_DT_QINT16 = 15,
	CKPT_DT_QUINT16 = 16,
	CKPT_DT_UINT16 = 17,
	CKPT_DT_COMPLEX128 = 18,
	CKPT_DT_HALF = 19,
	CKPT_DT_RESOURCE = 20,
	CKPT_DT_VARIANT = 21,
	CKPT_DT_UINT32 = 22,
	CKPT_DT_UINT64 = 23,
	CKPT_DT_COUNT_ = 24 /* one past the last known value */
} ckpt_dtype;

/*
 * Bytes per element in checkpoint data; 0 for string, variant, resource
 * and unknown values (which have no fixed size).
 */
size_t ckpt_dtype_size(int dtype);

/* TensorFlow's Python name ("float32", "bfloat16", "float16", "string");
 * "invalid" for unknown values. Never NULL; a static string. */
const char *ckpt_dtype_name(int dtype);

/* TensorFlow's C++ DataTypeString ("float", "half", "double"), the form its
 * error messages print. Never NULL; a static string. */
const char *ckpt_dtype_tf_name(int dtype);

/* Parse a Python name or a C++ name ("float32", "float", "half", "bf16", "DT_HALF")
 * into *out. Returns 0, or CKPT_EINVAL for an unknown name. */
int ckpt_dtype_parse(const char *name, ckpt_dtype *out);

/* The names ckpt_dtype_parse accepts, for a message: "float32, ...; also
 * half, ..." (DT_* names aside), cut to fit buf. */
void ckpt_dtype_names(char *buf, size_t size);

/* Non-zero for the dtypes whose bytes are numbers (incl. bool, quantized). */
int ckpt_dtype_is_numeric(int dtype);

#ifdef __cplusplus
}
#endif
#endif
