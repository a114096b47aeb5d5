/* dtype table: sizes and names as TensorFlow defines them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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

/* Common short names, each meaning one dtype; every name the message
 * lists parses, and a short buffer is cut, not overrun. */
START_TEST(test_dtype_aliases)
{
	static const struct {
		const char *name;
		ckpt_dtype dt;
	} want[] = {
	    {"bf16", CKPT_DT_BFLOAT16}, {"fp16", CKPT_DT_HALF},	 {"f16", CKPT_DT_HALF},
	    {"fp32", CKPT_DT_FLOAT},	{"f32", CKPT_DT_FLOAT},	 {"float", CKPT_DT_FLOAT},
	    {"fp64", CKPT_DT_DOUBLE},	{"f64", CKPT_DT_DOUBLE}, {"double", CKPT_DT_DOUBLE}};
	ckpt_dtype dt;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_int_eq(ckpt_dtype_parse(want[i].name, &dt), 0);
		ck_assert_int_eq(dt, want[i].dt);
	}
	ck_assert_int_eq(ckpt_dtype_parse("f8", &dt), CKPT_EINVAL);
	char names[512];
	ckpt_dtype_names(names, sizeof(names));
	ck_assert_ptr_nonnull(strstr(names, "bfloat16"));
	ck_assert_ptr_nonnull(strstr(names, "bf16"));
	ck_assert_ptr_null(strstr(names, "invalid"));
	char *save = NULL;
	for (char *t = strtok_r(names, ",; ", &save); t; t = strtok_r(NULL, ",; ", &save))
		if (strcmp(t, "also") != 0)
			ck_assert_msg(ckpt_dtype_parse(t, &dt) == 0, "listed %s does not parse", t);
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	ckpt_dtype_names(tiny, 5);
	ck_assert_str_eq(tiny, "floa");
	ck_assert_int_eq(tiny[5], 'x');
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dtype");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_dtype_sizes);
	tcase_add_test(tc, test_dtype_names);
	tcase_add_test(tc, test_dtype_aliases);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
