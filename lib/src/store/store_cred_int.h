/*
 * Credentials and endpoints of the remote store, read from the
 * environment and the standard files (store_cred.c). Nothing here is ever
 * put in an error message.
 */
#ifndef CKPT_STORE_CRED_INT_H
#define CKPT_STORE_CRED_INT_H

#include "ckpt/error.h"

struct ckpt__cred {
	char *sigv4;	    /* CURLOPT_AWS_SIGV4 ("aws:amz:REGION:s3"), NULL: unsigned */
	char *key_id;	    /* with sigv4 */
	char *secret;	    /* with sigv4 */
	char *token_header; /* "x-amz-security-token: ..." or "Authorization: Bearer ..." */
	char *region;	    /* s3: the bucket's region (default us-east-1) */
	char *endpoint;	    /* "http://host:port" without a trailing "/"; NULL: the cloud's */
};

/* s3://: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else
 * the AWS_PROFILE (default "default") section of AWS_SHARED_CREDENTIALS_FILE
 * (default ~/.aws/credentials); AWS_REGION, AWS_DEFAULT_REGION, else the
 * profile's region in AWS_CONFIG_FILE (~/.aws/config); AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL. No key: anonymous. Ownership: ckpt__cred_free(). */
int ckpt__cred_s3(struct ckpt__cred *c, ckpt_error *err);

/* gs://: GOOGLE_OAUTH_ACCESS_TOKEN, else the token in the file
 * CLOUDSDK_AUTH_ACCESS_TOKEN_FILE names (a bearer token); else HMAC keys
 * GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY (Signature V4); else anonymous.
 * STORAGE_EMULATOR_HOST ("host:port" or a URL) replaces
 * https://storage.googleapis.com. Ownership: ckpt__cred_free(). */
int ckpt__cred_gs(struct ckpt__cred *c, ckpt_error *err);

/* Frees and wipes c's strings. */
void ckpt__cred_free(struct ckpt__cred *c);

#endif
