/* The CA's issuing policy: open, or an allow-list of identities. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "policy.h"

struct tcli_policy {
	int open;
	char **ids;
	size_t n;
};

int
tcli_policy_new(tcli_policy **out)
{
	tcli_policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return TRIPKI_E_NOMEM;
	*out = p;
	return TRIPKI_OK;
}

void
tcli_policy_set_open(tcli_policy *p)
{
	p->open = 1;
}

void
tcli_policy_free(tcli_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->ids[i]);
	free(p->ids);
	free(p);
}

int
tcli_policy_allow(tcli_policy *p, const char *id)
{
	char **ids;

	if (!tripki_id_valid(id, strlen(id)))
		return TRIPKI_E_INVALID;
	if ((ids = realloc(p->ids, (p->n + 1) * sizeof(*ids))) == NULL)
		return TRIPKI_E_NOMEM;
	p->ids = ids;
	if ((ids[p->n] = strdup(id)) == NULL)
		return TRIPKI_E_NOMEM;
	p->n++;
	return TRIPKI_OK;
}

size_t
tcli_policy_count(const tcli_policy *p)
{
	return p->n;
}

int
tcli_policy_is_open(const tcli_policy *p)
{
	return p->open;
}

int
tcli_policy_authorize(void *ctx, const tripki_issue_info *info,
    int64_t now_ms)
{
	const tcli_policy *p = ctx;
	size_t i;

	(void)now_ms;
	if (p->open)
		return TRIPKI_OK;
	for (i = 0; i < p->n; i++)
		if (strcmp(p->ids[i], info->id) == 0)
			return TRIPKI_OK;
	tcli_warn("refused to issue a certificate for \"%s\" to %s: not in "
	    "the allow-list (--allow)", info->id,
	    info->peer != NULL ? info->peer : "?");
	return TRIPKI_E_NOT_AUTHORIZED;
}
