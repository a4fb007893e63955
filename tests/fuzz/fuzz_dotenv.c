/*
 * fuzz_dotenv - the dotenv parser (config_parse_dotenv), which reads an
 * operator's file that may have been written by hand, copied from the
 * Python original or mangled in transit.
 *
 * Input: the file's bytes (NULs included: the parser takes a length).
 *
 * Checks: a refused file gives no array and a reason that names the file
 * and a line ("name:N: ..."); an accepted one gives a NULL-terminated
 * array of "KEY=VALUE" whose keys are names ([A-Za-z_][A-Za-z0-9_]*),
 * each key once (a later line replaces an earlier one).  The same text
 * parses the same way twice.
 */
#include "fuzz_common.h"

#include "config.h"

static void
check_env(char **env)
{
	size_t i, j, k;

	for (i = 0; env[i] != NULL; i++) {
		const char *e = env[i];

		FUZZ_CHECK((e[0] >= 'A' && e[0] <= 'Z') ||
		    (e[0] >= 'a' && e[0] <= 'z') || e[0] == '_',
		    "key [%s] starts badly", e);
		for (k = 1; e[k] != '=' && e[k] != '\0'; k++)
			FUZZ_CHECK((e[k] >= 'A' && e[k] <= 'Z') ||
			    (e[k] >= 'a' && e[k] <= 'z') ||
			    (e[k] >= '0' && e[k] <= '9') || e[k] == '_',
			    "key [%s]: byte %02x", e, (unsigned char)e[k]);
		FUZZ_CHECK(e[k] == '=', "[%s] has no '='", e);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strncmp(env[j], e, k + 1) != 0,
			    "key [%.*s] twice", (int)k, e);
		(void)config_is_secret(e);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **env = (char **)&env, **env2 = NULL;
	char errmsg[CPB_ERRMSG_MAX] = "", errmsg2[CPB_ERRMSG_MAX] = "";
	enum cpb_err err, err2;
	size_t i;

	err = config_parse_dotenv((const char *)data, size, "fuzz.env", &env,
	    errmsg);
	err2 = config_parse_dotenv((const char *)data, size, "fuzz.env", &env2,
	    errmsg2);
	FUZZ_CHECK(err == err2 && strcmp(errmsg, errmsg2) == 0,
	    "two parses differ");
	if (err != CPB_OK) {
		FUZZ_CHECK(err == CPB_ERR_INVALID || (err == CPB_ERR_TOO_LARGE &&
		    size > 1024 * 1024), "error %d", (int)err);
		FUZZ_CHECK(env == NULL && env2 == NULL, "array set on error");
		FUZZ_CHECK(err != CPB_ERR_INVALID ||
		    (strncmp(errmsg, "fuzz.env:", 9) == 0 &&
		    errmsg[9] >= '1' && errmsg[9] <= '9'),
		    "reason [%s] names no line", errmsg);
		return 0;
	}
	FUZZ_CHECK(env != NULL && env2 != NULL, "no array");
	check_env(env);
	for (i = 0; env[i] != NULL; i++)
		FUZZ_CHECK(env2[i] != NULL && strcmp(env[i], env2[i]) == 0,
		    "entry %zu differs", i);
	FUZZ_CHECK(env2[i] == NULL, "second parse has more entries");
	config_free_env(env);
	config_free_env(env2);
	return 0;
}
