/*
 * Internal: tensor elements as numbers, shared by the printers
 * (format_values.c) and the statistics (inspect.c). Elements are as stored
 * in checkpoint data: little-endian, ckpt_dtype_size() bytes each.
 */
#ifndef CKPT_VALUES_INT_H
#define CKPT_VALUES_INT_H

#include <stdint.h>

#include "ckpt/dtype.h"

/* What an element is to NumPy. */
enum ckpt__vkind {
	CKPT__V_NONE,	 /* no NumPy form: variant, resource, invalid */
	CKPT__V_BOOL,	 /* one byte, non-zero is true */
	CKPT__V_INT,	 /* signed integers, qint* */
	CKPT__V_UINT,	 /* unsigned integers, quint* */
	CKPT__V_FLOAT,	 /* float16, bfloat16, float32, float64 */
	CKPT__V_COMPLEX, /* complex64, complex128: (real, imag) pairs */
	CKPT__V_STRING,
};

enum ckpt__vkind ckpt__value_kind(ckpt_dtype dt);

/* The dtype of one part of a complex element (float32 or float64); dt
 * itself for any other dtype. */
ckpt_dtype ckpt__value_part(ckpt_dtype dt);

/* Bits of the floating type NumPy prints a float dtype's values in: 16 for
 * float16, 32 for float32 and bfloat16 (NumPy has no bfloat16), 64 for
 * float64; for complex the bits of a part. */
int ckpt__value_float_bits(ckpt_dtype dt);

/* The element at p as a number of its kind (CKPT__V_INT, CKPT__V_UINT or
 * CKPT__V_BOOL, CKPT__V_FLOAT); exact. */
int64_t ckpt__value_int(ckpt_dtype dt, const void *p);
uint64_t ckpt__value_uint(ckpt_dtype dt, const void *p);
double ckpt__value_float(ckpt_dtype dt, const void *p);

#endif
