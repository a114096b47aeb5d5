/* dtype table: sizes and names as TensorFlow defines them. */
#include <check.h>
#include <stdlib.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"
#include "testutil.h"

START_TEST(test_dtype_sizes)
{
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_FLOAT), 4);
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_BFLOAT16), 2);
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_COMPLEX128), 16);
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_BOOL), 1);
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_UINT64), 8);
	ck_assert_uint_eq(ckpt_dtype_size(CKPT_DT_STRING), 0);
	ck_assert_uint_eq(ckpt_dtype_size(99), 0);
	ck_assert_uint_eq(ckpt_dtype_size(-1), 0);
}
END_TEST

START_TEST(test_dtype_names)
{
	ck_assert_str_eq(ckpt_dtype_name(CKPT_DT_FLOAT), "float32");
	ck_assert_str_eq(ckpt_dtype_name(CKPT_DT_HALF), "float16");
	ck_assert_str_eq(ckpt_dtype_name(CKPT_DT_DOUBLE), "float64");
	ck_assert_str_eq(ckpt_dtype_tf_name(CKPT_DT_HALF), "half");
	ck_assert_str_eq(ckpt_dtype_tf_name(CKPT_DT_FLOAT), "float");
	ck_assert_str_eq(ckpt_dtype_name(1000), "invalid");
	ckpt_dtype dt;
	ck_assert_int_eq(ckpt_dtype_parse("bfloat16", &dt), 0);
	ck_assert_int_eq(dt, CKPT_DT_BFLOAT16);
	ck_assert_int_eq(ckpt_dtype_parse("half", &dt), 0);
	ck_assert_int_eq(dt, CKPT_DT_HALF);
	ck_assert_int_eq(ckpt_dtype_parse("DT_INT64", &dt), 0);
	ck_assert_int_eq(dt, CKPT_DT_INT64);
	ck_assert_int_eq(ckpt_dtype_parse("float33", &dt), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_dtype_parse("DT_", &dt), CKPT_EINVAL);
	for (int i = 1; i < CKPT_DT_COUNT_; i++) {
		ck_assert_int_eq(ckpt_dtype_parse(ckpt_dtype_name(i), &dt), 0);
		ck_assert_int_eq(dt, i);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dtype");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_dtype_sizes);
	tcase_add_test(tc, test_dtype_names);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
