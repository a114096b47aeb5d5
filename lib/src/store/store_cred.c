/* Credentials of the remote store (store_cred_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_int.h"
#include "store/store_cred_int.h"

/* Longest line of a credentials file or token file we read. */
#define LINE_MAX_LEN 8192

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] ? v : NULL;
}

static void wipe(char **p)
{
	if (*p) {
		memset(*p, 0, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void ckpt__cred_free(struct ckpt__cred *c)
{
	wipe(&c->sigv4);
	wipe(&c->key_id);
	wipe(&c->secret);
	wipe(&c->token_header);
	wipe(&c->region);
	wipe(&c->endpoint);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Ownership: the caller frees the path. */
static char *home_file(const char *var, const char *rel)
{
	const char *v = env(var);
	if (v)
		return strdup(v);
	const char *home = env("HOME");
	char *p = NULL;
	if (home && asprintf(&p, "%s/%s", home, rel) < 0)
		p = NULL;
	return p;
}

/*
 * The value of key in section [section] of an INI file (AWS's format);
 * a missing file or key leaves *out NULL. Ownership: *out is the caller's.
 */
static int ini_get(const char *path, const char *section, const char *key, char **out)
{
	*out = NULL;
	FILE *f = path ? fopen(path, "re") : NULL;
	if (f == NULL)
		return 0;
	char *line = malloc(LINE_MAX_LEN);
	int in = 0, rc = 0;
	while (line && rc == 0 && fgets(line, LINE_MAX_LEN, f)) {
		char *l = trim(line);
		if (l[0] == '[') {
			char *e = strchr(l, ']');
			if (e)
				*e = '\0';
			in = strcmp(trim(l + 1), section) == 0;
			continue;
		}
		char *eq = strchr(l, '=');
		if (!in || eq == NULL || l[0] == '#' || l[0] == ';')
			continue;
		*eq = '\0';
		if (strcmp(trim(l), key) == 0) {
			free(*out);
			if ((*out = strdup(trim(eq + 1))) == NULL)
				rc = CKPT_ENOMEM;
		}
	}
	if (line) {
		memset(line, 0, LINE_MAX_LEN);
		free(line);
	} else {
		rc = CKPT_ENOMEM;
	}
	fclose(f);
	return rc;
}

static int dup_to(char **dst, const char *v)
{
	if (v && (*dst = strdup(v)) == NULL)
		return CKPT_ENOMEM;
	return 0;
}

/* An endpoint URL without its trailing "/" ("host:port" gets http://). */
static int set_endpoint(struct ckpt__cred *c, const char *v)
{
	if (v == NULL)
		return 0;
	int n = strstr(v, "://") ? asprintf(&c->endpoint, "%s", v)
				 : asprintf(&c->endpoint, "http://%s", v);
	if (n < 0) {
		c->endpoint = NULL;
		return CKPT_ENOMEM;
	}
	size_t l = strlen(c->endpoint);
	while (l && c->endpoint[l - 1] == '/')
		c->endpoint[--l] = '\0';
	return 0;
}

static int s3_sources(struct ckpt__cred *c)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	char *tok = NULL, *region = NULL;
	int rc = 0;
	if (ak && sk) {
		rc = dup_to(&c->key_id, ak);
		if (rc == 0)
			rc = dup_to(&c->secret, sk);
		if (rc == 0)
			rc = dup_to(&tok, env("AWS_SESSION_TOKEN"));
	} else {
		char *path = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
		rc = ini_get(path, profile, "aws_access_key_id", &c->key_id);
		if (rc == 0)
			rc = ini_get(path, profile, "aws_secret_access_key", &c->secret);
		if (rc == 0)
			rc = ini_get(path, profile, "aws_session_token", &tok);
		free(path);
	}
	const char *r = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
	if (rc == 0 && r)
		rc = dup_to(&region, r);
	if (rc == 0 && region == NULL) {
		char *path = home_file("AWS_CONFIG_FILE", ".aws/config");
		char *sect = NULL;
		if (strcmp(profile, "default") == 0)
			sect = strdup("default");
		else if (asprintf(&sect, "profile %s", profile) < 0)
			sect = NULL;
		rc = sect ? ini_get(path, sect, "region", &region) : CKPT_ENOMEM;
		free(sect);
		free(path);
	}
	if (rc == 0 && region == NULL)
		rc = dup_to(&region, "us-east-1");
	c->region = region;
	if (rc == 0 && tok && asprintf(&c->token_header, "x-amz-security-token: %s", tok) < 0) {
		c->token_header = NULL;
		rc = CKPT_ENOMEM;
	}
	wipe(&tok);
	if (rc == 0 && (c->key_id == NULL || c->secret == NULL)) {
		wipe(&c->key_id); /* anonymous */
		wipe(&c->secret);
	}
	if (rc == 0 && c->key_id && asprintf(&c->sigv4, "aws:amz:%s:s3", region) < 0) {
		c->sigv4 = NULL;
		rc = CKPT_ENOMEM;
	}
	if (rc == 0)
		rc = set_endpoint(c, env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3")
								: env("AWS_ENDPOINT_URL"));
	return rc;
}

int ckpt__cred_s3(struct ckpt__cred *c, ckpt_error *err)
{
	memset(c, 0, sizeof(*c));
	int rc = s3_sources(c);
	if (rc) {
		ckpt__cred_free(c);
		return ckpt__error(err, rc, "s3://: out of memory reading the credentials");
	}
	return 0;
}

/* The first line of a token file, trimmed. Ownership: *out the caller's. */
static int read_token_file(const char *path, char **out, ckpt_error *err)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return ckpt__error(err, CKPT_ENOTFOUND,
				   "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: cannot open the token file");
	char *line = malloc(LINE_MAX_LEN);
	int rc = 0;
	if (line == NULL)
		rc = CKPT_ENOMEM;
	else if (fgets(line, LINE_MAX_LEN, f) && (*out = strdup(trim(line))) == NULL)
		rc = CKPT_ENOMEM;
	if (line) {
		memset(line, 0, LINE_MAX_LEN);
		free(line);
	}
	fclose(f);
	if (rc)
		return ckpt__error(err, rc, "gs://: out of memory reading the token");
	return 0;
}

int ckpt__cred_gs(struct ckpt__cred *c, ckpt_error *err)
{
	memset(c, 0, sizeof(*c));
	char *tok = NULL;
	int rc = dup_to(&tok, env("GOOGLE_OAUTH_ACCESS_TOKEN"));
	if (rc == 0 && tok == NULL && env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")) {
		rc = read_token_file(env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"), &tok, err);
		if (rc) {
			ckpt__cred_free(c);
			return rc;
		}
	}
	if (rc == 0 && tok && tok[0] &&
	    asprintf(&c->token_header, "Authorization: Bearer %s", tok) < 0) {
		c->token_header = NULL;
		rc = CKPT_ENOMEM;
	}
	wipe(&tok);
	const char *ak = env("GS_ACCESS_KEY_ID"), *sk = env("GS_SECRET_ACCESS_KEY");
	if (rc == 0 && c->token_header == NULL && ak && sk) {
		rc = dup_to(&c->key_id, ak);
		if (rc == 0)
			rc = dup_to(&c->secret, sk);
		if (rc == 0)
			rc = dup_to(&c->sigv4, "goog4:goog:auto:storage");
	}
	if (rc == 0)
		rc = set_endpoint(c, env("STORAGE_EMULATOR_HOST"));
	if (rc) {
		ckpt__cred_free(c);
		return ckpt__error(err, rc, "gs://: out of memory reading the credentials");
	}
	return 0;
}
