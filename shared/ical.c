/*
 * ical.c - one Plane issue → one VCALENDAR with one all-day VEVENT.
 *
 * libical builds and serialises the event: escaping of TEXT values
 * (RFC 5545 §3.3.11), folding at 75 octets (libical 3.0.16 never splits a
 * UTF-8 sequence: checked, and tested), CRLF line ends.  The one exception
 * is CATEGORIES: libical 3.0.16 treats ',' and ';' in a CATEGORIES value as
 * list syntax and never escapes them (whatever the property kind, X- too),
 * and its parser stops splitting a list at the first escaped comma.  So each
 * label becomes its own CATEGORIES property (RFC 5545 allows several), whose
 * value is escaped and folded here, and the lines are put in front of
 * END:VEVENT.  A label "a,b" then survives any reader, libical included.
 *
 * Text from Plane is cleaned (ical_clean_text) before it reaches libical,
 * so no control character, bare CR or broken UTF-8 gets into the stream.
 * Together with the escaping that means no input can start a new line,
 * property or component.
 *
 * Nothing here keeps state between calls; every buffer is the caller's or
 * freed before return.
 */
#include "ical.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#define ICAL_UID_PREFIX		"plane-issue-"
#define ICAL_UID_SUFFIX		"@calplanebot"
#define ICAL_PRODID		"-//CalPlaneBot//CalPlaneBot//EN"
#define ICAL_FOLD_OCTETS	75	/* RFC 5545 §3.1, without the CRLF */
#define ICAL_UNKNOWN		"Unknown"
#define ICAL_TRUNCATED_NOTE	"[description truncated]"

/* ---- a growable string; an allocation failure sticks until the end ---- */

struct ical_buf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

static void
ical_buf_add(struct ical_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *np;

	if (b->oom)
		return;
	if (n >= SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
ical_buf_adds(struct ical_buf *b, const char *s)
{
	ical_buf_add(b, s, strlen(s));
}

static void
ical_buf_addc(struct ical_buf *b, char c)
{
	ical_buf_add(b, &c, 1);
}

/* The string, never NULL unless allocation failed (then all is freed). */
static char *
ical_buf_finish(struct ical_buf *b)
{
	if (!b->oom && b->p == NULL)
		ical_buf_add(b, "", 0);
	if (b->oom) {
		free(b->p);
		b->p = NULL;
	}
	return b->p;
}

/* ---- text cleaning ---- */

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode 15 table 3-7:
 * no overlongs, no surrogates, nothing past U+10FFFF), 0 if there is none.
 */
static size_t
ical_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Clean n bytes into out (NULL: only count); returns the output length.
 * CRLF → LF; other CR, C0 controls but TAB and LF, DEL and C1 controls
 * (U+0080..U+009F) are dropped: RFC 5545 §3.3.11 TEXT has no room for them.
 * Each byte that starts no well-formed UTF-8 sequence becomes U+FFFD, so
 * the reader sees that something was there.  Output ≤ 3 × n.
 */
static size_t
ical_clean_span(const unsigned char *s, size_t n, char *out)
{
	static const char repl[] = "\xef\xbf\xbd";
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = ical_utf8_len(s + i, n - i);
		if (k == 0) {
			if (out != NULL)
				memcpy(out + o, repl, 3);
			o += 3;
			i++;
			continue;
		}
		if (k == 1 && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			i++;	/* the LF is kept next time round */
			continue;
		}
		if ((k == 1 && ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') ||
		    s[i] == 0x7f)) || (k == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0)) {
			i += k;
			continue;
		}
		if (out != NULL)
			memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	return o;
}

static char *
ical_clean_len(const char *s, size_t n, size_t *out_len)
{
	size_t len;
	char *out;

	len = ical_clean_span((const unsigned char *)s, n, NULL);
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	ical_clean_span((const unsigned char *)s, n, out);
	out[len] = '\0';
	if (out_len != NULL)
		*out_len = len;
	return out;
}

char *
ical_clean_text(const char *s)
{
	if (s == NULL)
		s = "";
	return ical_clean_len(s, strlen(s), NULL);
}

/* ---- HTML → text ---- */

struct ical_h2t {
	struct ical_buf out;
	bool	 line_start;	/* nothing but a list marker on this line yet */
	bool	 space;		/* collapsible white space seen, not written */
	int	 pre;		/* inside how many <pre> */
	size_t	 p_start;	/* out.len when the open <p> began */
};

static bool
ical_name_in(const xmlChar *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (xmlStrcasecmp(name, (const xmlChar *)*list) == 0)
			return true;
	return false;
}

static bool
ical_is_block(const xmlChar *name)
{
	static const char *const blocks[] = { "p", "div", "li", "h1", "h2",
	    "h3", "h4", "h5", "h6", "blockquote", "pre", "tr", "ul", "ol",
	    "table", "hr", NULL };

	return ical_name_in(name, blocks);
}

static void
ical_h2t_newline(struct ical_h2t *h)
{
	ical_buf_addc(&h->out, '\n');
	h->line_start = true;
	h->space = false;
}

static void
ical_h2t_end_line(struct ical_h2t *h)
{
	if (!h->line_start)
		ical_h2t_newline(h);
	h->space = false;
}

static void
ical_h2t_put(struct ical_h2t *h, const char *s, size_t n)
{
	if (h->space && !h->line_start)
		ical_buf_addc(&h->out, ' ');
	h->space = false;
	ical_buf_add(&h->out, s, n);
	h->line_start = false;
}

/*
 * HTML white space collapses to one space; &nbsp; (U+00A0) is kept as a
 * plain space that does not collapse, as a browser shows it.  In <pre>
 * everything is kept.
 */
static void
ical_h2t_text(struct ical_h2t *h, const char *s)
{
	size_t i, k, n = strlen(s);

	for (i = 0; i < n; i += k) {
		k = 1;
		if (s[i] == '\n' && h->pre > 0) {
			ical_h2t_newline(h);
		} else if (h->pre > 0) {
			ical_h2t_put(h, s + i, 1);
		} else if (strchr(" \t\n\r\f", s[i]) != NULL) {
			h->space = true;
		} else if ((unsigned char)s[i] == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] == 0xa0) {
			ical_h2t_put(h, " ", 1);
			k = 2;
		} else {
			ical_h2t_put(h, s + i, 1);
		}
	}
}

/* Returns whether the children are to be walked. */
static bool
ical_h2t_enter(struct ical_h2t *h, xmlNode *node)
{
	static const char *const skipped[] = { "script", "style", "head",
	    NULL };

	if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
		if (node->content != NULL)
			ical_h2t_text(h, (const char *)node->content);
		return false;
	}
	if (node->type != XML_ELEMENT_NODE || ical_name_in(node->name, skipped))
		return false;
	if (xmlStrcasecmp(node->name, (const xmlChar *)"br") == 0) {
		ical_h2t_newline(h);
		return false;
	}
	if (!ical_is_block(node->name))
		return true;
	ical_h2t_end_line(h);
	if (xmlStrcasecmp(node->name, (const xmlChar *)"p") == 0)
		h->p_start = h->out.len;
	else if (xmlStrcasecmp(node->name, (const xmlChar *)"pre") == 0)
		h->pre++;
	else if (xmlStrcasecmp(node->name, (const xmlChar *)"li") == 0)
		ical_buf_adds(&h->out, "- ");
	return true;
}

static void
ical_h2t_leave(struct ical_h2t *h, xmlNode *node)
{
	static const char *const cells[] = { "td", "th", NULL };

	if (node->type != XML_ELEMENT_NODE)
		return;
	if (ical_name_in(node->name, cells)) {
		h->space = true;
		return;
	}
	if (!ical_is_block(node->name))
		return;
	if (xmlStrcasecmp(node->name, (const xmlChar *)"pre") == 0 && h->pre > 0)
		h->pre--;
	/* Plane's editor writes an empty line as an empty paragraph. */
	if (xmlStrcasecmp(node->name, (const xmlChar *)"p") == 0 &&
	    h->out.len == h->p_start)
		ical_h2t_newline(h);
	ical_h2t_end_line(h);
}

/* Iterative, so a deeply nested document cannot exhaust the stack. */
static void
ical_h2t_walk(struct ical_h2t *h, xmlNode *top)
{
	xmlNode *node = top;

	while (node != NULL) {
		if (ical_h2t_enter(h, node) && node->children != NULL) {
			node = node->children;
			continue;
		}
		for (;;) {
			ical_h2t_leave(h, node);
			if (node == top) {
				node = NULL;
				break;
			}
			if (node->next != NULL) {
				node = node->next;
				break;
			}
			node = node->parent;
		}
	}
}

/*
 * In place: no spaces or tabs at line ends, at most one empty line in a
 * row, no empty lines at the start or the end.
 */
static void
ical_h2t_normalise(char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\n') {
			s[o++] = s[i];
			continue;
		}
		while (o > 0 && (s[o - 1] == ' ' || s[o - 1] == '\t'))
			o--;
		if (o > 0 && !(o >= 2 && s[o - 1] == '\n' && s[o - 2] == '\n'))
			s[o++] = '\n';
	}
	while (o > 0 && strchr(" \t\n", s[o - 1]) != NULL)
		o--;
	s[o] = '\0';
}

/* Back n off so that s[0..n) does not end inside a UTF-8 sequence. */
static size_t
ical_utf8_floor(const char *s, size_t n)
{
	size_t back = 0;

	while (back < 3 && n > back &&
	    ((unsigned char)s[n - back] & 0xc0) == 0x80)
		back++;
	if (n > back && ((unsigned char)s[n - back] & 0xc0) != 0x80)
		return n - back;
	return n;
}

/* The walked text, normalised, with the truncation note; NULL on OOM.
 * h->out stays the caller's to free. */
static char *
ical_h2t_finish(struct ical_h2t *h, bool truncated)
{
	struct ical_buf b = { 0 };
	char *text;

	ical_buf_add(&h->out, "", 0);
	if (h->out.oom)
		return NULL;
	/*
	 * libxml2 turns some character references (&#x85;) into controls
	 * again: clean first, so the layout rules see the final text.
	 */
	if ((text = ical_clean_text(h->out.p)) == NULL)
		return NULL;
	ical_h2t_normalise(text);
	if (!truncated)
		return text;
	ical_buf_adds(&b, text);
	ical_buf_adds(&b, text[0] != '\0' ? "\n" ICAL_TRUNCATED_NOTE :
	    ICAL_TRUNCATED_NOTE);
	free(text);
	return ical_buf_finish(&b);
}

char *
ical_html_to_text(const char *html, size_t len)
{
	struct ical_h2t h = { .line_start = true };
	xmlDoc *doc = NULL;
	char *clean = NULL, *text = NULL;
	size_t clen;
	bool truncated = false;

	if (html == NULL)
		len = 0;
	/* A description past the cap is cut, not refused: the event is more
	 * use with most of its text than not synced at all. */
	if (len > PLANE_DESCRIPTION_MAX) {
		len = ical_utf8_floor(html, PLANE_DESCRIPTION_MAX);
		truncated = true;
	}
	/* Cleaning first keeps libxml2 from switching to Latin-1 on the first
	 * bad byte and from ever seeing a NUL. */
	if ((clean = ical_clean_len(len ? html : "", len, &clen)) == NULL)
		goto out;
	/* XML_PARSE_HUGE lifts libxml2's nesting limit (256), past which it
	 * drops the rest of the text; the input is capped above, and the
	 * walk below needs no stack. */
	if (clen > 0)
		doc = htmlReadMemory(clean, (int)clen, NULL, "UTF-8",
		    HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
		    HTML_PARSE_NONET | XML_PARSE_HUGE);
	if (doc != NULL && xmlDocGetRootElement(doc) != NULL)
		ical_h2t_walk(&h, xmlDocGetRootElement(doc));
	text = ical_h2t_finish(&h, truncated);
out:
	free(h.out.p);
	if (doc != NULL)
		xmlFreeDoc(doc);
	free(clean);
	return text;
}

/* ---- UIDs ---- */

/* Plane ids are UUIDs; anything beyond this set is no issue id of ours. */
static bool
ical_id_ok(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len >= PLANE_ID_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_.", id[i]) == NULL || id[i] == '\0')
			return false;
	return true;
}

char *
ical_uid(const char *issue_id)
{
	struct ical_buf b = { 0 };

	if (issue_id == NULL || !ical_id_ok(issue_id, strlen(issue_id)))
		return NULL;
	ical_buf_adds(&b, ICAL_UID_PREFIX);
	ical_buf_adds(&b, issue_id);
	ical_buf_adds(&b, ICAL_UID_SUFFIX);
	return ical_buf_finish(&b);
}

bool
ical_uid_issue_id(const char *uid, char *id, size_t id_size)
{
	size_t len, pre = strlen(ICAL_UID_PREFIX), suf = strlen(ICAL_UID_SUFFIX);

	if (uid == NULL || id == NULL)
		return false;
	len = strlen(uid);
	if (len <= pre + suf || strncmp(uid, ICAL_UID_PREFIX, pre) != 0 ||
	    strcmp(uid + len - suf, ICAL_UID_SUFFIX) != 0)
		return false;
	len -= pre + suf;
	if (!ical_id_ok(uid + pre, len) || len >= id_size)
		return false;
	memcpy(id, uid + pre, len);
	id[len] = '\0';
	return true;
}

/* ---- the event ---- */

/* Everything that goes into the event, cleaned and formatted. */
struct ical_parts {
	char	*uid;
	char	*summary;
	char	*description;
	char	*url;		/* NULL: no URL property */
	char	*categories;	/* ready CATEGORIES lines, CRLF-ended */
};

static void
ical_parts_free(struct ical_parts *p)
{
	free(p->uid);
	free(p->summary);
	free(p->description);
	free(p->url);
	free(p->categories);
}

/* A text value cleaned onto b; NULL counts as `fallback`. */
static void
ical_add_clean(struct ical_buf *b, const char *s, const char *fallback)
{
	char *c;

	if ((c = ical_clean_text(s != NULL ? s : fallback)) == NULL) {
		b->oom = true;
		return;
	}
	ical_buf_adds(b, c);
	free(c);
}

static char *
ical_make_summary(const struct plane_issue *issue)
{
	struct ical_buf b = { 0 };
	char num[32];

	snprintf(num, sizeof(num), "[%lld] ", (long long)issue->sequence_id);
	ical_buf_adds(&b, num);
	ical_add_clean(&b, issue->name, "");
	return ical_buf_finish(&b);
}

/*
 * ", "-joined names of the labels (or assignees), cleaned, in Plane's
 * order; a nameless entry is left out rather than shown as ", ,".
 */
static char *
ical_join_names(const struct plane_issue *issue, bool labels)
{
	struct ical_buf b = { 0 };
	size_t i, n = labels ? issue->n_labels : issue->n_assignees;
	char *name;

	for (i = 0; i < n && !b.oom; i++) {
		name = ical_clean_text(labels ? issue->labels[i].name :
		    issue->assignees[i].display_name);
		if (name == NULL) {
			b.oom = true;
			break;
		}
		if (name[0] != '\0') {
			if (b.len > 0)
				ical_buf_adds(&b, ", ");
			ical_buf_adds(&b, name);
		}
		free(name);
	}
	return ical_buf_finish(&b);
}

/* "\n{key}{names}" when there is at least one name. */
static void
ical_add_names(struct ical_buf *b, const struct plane_issue *issue,
    bool labels, const char *key)
{
	char *names;

	if ((names = ical_join_names(issue, labels)) == NULL) {
		b->oom = true;
		return;
	}
	if (names[0] != '\0') {
		ical_buf_adds(b, key);
		ical_buf_adds(b, names);
	}
	free(names);
}

static const char *
ical_project_name(const struct plane_issue *issue,
    const struct ical_context *ctx)
{
	if (issue->project_name != NULL && issue->project_name[0] != '\0')
		return issue->project_name;
	if (ctx->project_name != NULL && ctx->project_name[0] != '\0')
		return ctx->project_name;
	return ICAL_UNKNOWN;
}

/* Seed 000's rules: text, "---", then one line per piece of metadata. */
static char *
ical_make_description(const struct plane_issue *issue,
    const struct ical_context *ctx)
{
	struct ical_buf b = { 0 };
	const char *html = issue->description_html;
	char *text;

	text = ical_html_to_text(html, html != NULL ? strlen(html) : 0);
	if (text == NULL)
		return NULL;
	if (text[0] != '\0') {
		ical_buf_adds(&b, text);
		ical_buf_addc(&b, '\n');
	}
	free(text);
	ical_buf_adds(&b, "---\nPriority: ");
	ical_buf_adds(&b, plane_priority_name(issue->priority));
	ical_buf_adds(&b, "\nState: ");
	ical_add_clean(&b, issue->state_name != NULL &&
	    issue->state_name[0] != '\0' ? issue->state_name : NULL,
	    ICAL_UNKNOWN);
	ical_add_names(&b, issue, false, "\nAssignees: ");
	ical_add_names(&b, issue, true, "\nLabels: ");
	ical_buf_adds(&b, "\nProject: ");
	ical_add_clean(&b, ical_project_name(issue, ctx), ICAL_UNKNOWN);
	return ical_buf_finish(&b);
}

/* RFC 3986 unreserved bytes pass, the rest is %XX: a path segment. */
static void
ical_add_segment(struct ical_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			ical_buf_addc(b, (char)c);
		} else {
			ical_buf_addc(b, '%');
			ical_buf_addc(b, hex[c >> 4]);
			ical_buf_addc(b, hex[c & 15]);
		}
	}
}

/*
 * {web}/{slug}/browse/{IDENT}-{seq}/, Plane's canonical link, or, with no
 * identifier known, {web}/{slug}/projects/{project}/issues/{id}, which Plane
 * redirects there.  libical writes URI values verbatim, so every piece from
 * outside is percent-encoded (web_url was checked by the caller).
 */
static char *
ical_make_url(const struct plane_issue *issue, const struct ical_context *ctx)
{
	struct ical_buf b = { 0 };
	const char *ident = issue->project_identifier;
	size_t wlen = strlen(ctx->web_url);
	char num[32];

	if (ident == NULL || ident[0] == '\0')
		ident = ctx->project_identifier;
	while (wlen > 0 && ctx->web_url[wlen - 1] == '/')
		wlen--;
	ical_buf_add(&b, ctx->web_url, wlen);
	ical_buf_addc(&b, '/');
	ical_add_segment(&b, ctx->workspace_slug);
	if (ident != NULL && ident[0] != '\0') {
		ical_buf_adds(&b, "/browse/");
		ical_add_segment(&b, ident);
		snprintf(num, sizeof(num), "-%lld/", (long long)issue->sequence_id);
		ical_buf_adds(&b, num);
	} else {
		ical_buf_adds(&b, "/projects/");
		ical_add_segment(&b, issue->project_id);
		ical_buf_adds(&b, "/issues/");
		ical_add_segment(&b, issue->id);
	}
	return ical_buf_finish(&b);
}

/*
 * One content line, folded: at most 75 octets a line, a fold never inside
 * a UTF-8 sequence (line is valid UTF-8), continuation lines start with a
 * space (RFC 5545 §3.1).
 */
static void
ical_add_folded(struct ical_buf *b, const char *line, size_t len)
{
	size_t room = ICAL_FOLD_OCTETS, n;

	while (len > room) {
		n = room;
		while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
			n--;
		ical_buf_add(b, line, n);
		ical_buf_adds(b, "\r\n ");
		line += n;
		len -= n;
		room = ICAL_FOLD_OCTETS - 1;
	}
	ical_buf_add(b, line, len);
	ical_buf_adds(b, "\r\n");
}

/* RFC 5545 §3.3.11 TEXT escaping of one (cleaned) value. */
static void
ical_add_escaped(struct ical_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\n') {
			ical_buf_adds(b, "\\n");
			continue;
		}
		if (*s == '\\' || *s == ';' || *s == ',')
			ical_buf_addc(b, '\\');
		ical_buf_addc(b, *s);
	}
}

/* One CATEGORIES line per label with a name, in Plane's order. */
static char *
ical_make_categories(const struct plane_issue *issue)
{
	struct ical_buf b = { 0 }, line = { 0 };
	char *name;
	size_t i;

	for (i = 0; i < issue->n_labels; i++) {
		if ((name = ical_clean_text(issue->labels[i].name)) == NULL) {
			b.oom = true;
			break;
		}
		/* libical drops blanks at a value's ends: " " reads back empty. */
		if (name[strspn(name, " \t")] != '\0') {
			line.len = 0;
			ical_buf_adds(&line, "CATEGORIES:");
			ical_add_escaped(&line, name);
			if (line.oom)
				b.oom = true;
			else
				ical_add_folded(&b, line.p, line.len);
		}
		free(name);
	}
	free(line.p);
	return ical_buf_finish(&b);
}

static enum cpb_err
ical_make_parts(const struct plane_issue *issue, const struct ical_context *ctx,
    struct ical_parts *p, char *errmsg)
{
	if ((p->uid = ical_uid(issue->id)) == NULL ||
	    (p->summary = ical_make_summary(issue)) == NULL ||
	    (p->description = ical_make_description(issue, ctx)) == NULL ||
	    (p->categories = ical_make_categories(issue)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	if ((issue->project_identifier == NULL ||
	    issue->project_identifier[0] == '\0') &&
	    (ctx->project_identifier == NULL ||
	    ctx->project_identifier[0] == '\0') &&
	    (issue->project_id == NULL || issue->project_id[0] == '\0'))
		return CPB_OK;	/* nothing to link to: no URL */
	if ((p->url = ical_make_url(issue, ctx)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	return CPB_OK;
}

/* A URI from configuration must not carry what would end a content line. */
static bool
ical_web_url_ok(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* The last year libical 3.0 serialises, and the first second after it. */
#define ICAL_YEAR_MAX		3000
#define ICAL_TIME_MAX_US	(INT64_C(32535216000) * 1000000)	/* 3001-01-01 */

static bool
ical_date_ok(struct plane_date d)
{
	char s[32];

	if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 ||
	    d.day < 1 || d.day > 31)
		return false;
	snprintf(s, sizeof(s), "%04d-%02d-%02d", d.year, d.month, d.day);
	/* libical 3.0 writes any date after the year 3000 as 00000000. */
	return plane_date_parse(s, NULL) &&
	    plane_date_next(d).year <= ICAL_YEAR_MAX;
}

static enum cpb_err
ical_check(const struct plane_issue *issue, const struct ical_context *ctx,
    unsigned sequence, char *errmsg)
{
	if (issue == NULL || ctx == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "no issue or context");
	if (issue->id == NULL || !ical_id_ok(issue->id, strlen(issue->id)))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue id is not a Plane id");
	if (!ical_date_ok(issue->target_date))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue %s has no target date iCalendar can hold "
		    "(up to %d-12-30)", issue->id, ICAL_YEAR_MAX);
	if (issue->sequence_id < 0 || issue->sequence_id > INT32_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue %s: sequence_id out of range", issue->id);
	if (sequence > INT_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "SEQUENCE too large");
	if (!ical_web_url_ok(ctx->web_url) || ctx->workspace_slug == NULL ||
	    ctx->workspace_slug[0] == '\0')
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "web URL or workspace slug missing or malformed");
	if (issue->name != NULL && strnlen(issue->name, PLANE_NAME_MAX + 1) >
	    PLANE_NAME_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "issue %s: name too long", issue->id);
	if (issue->n_labels > PLANE_LIST_MAX || issue->n_assignees > PLANE_LIST_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "issue %s: too many labels or assignees", issue->id);
	if ((issue->n_labels > 0 && issue->labels == NULL) ||
	    (issue->n_assignees > 0 && issue->assignees == NULL))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue %s: label or assignee list missing", issue->id);
	return CPB_OK;
}

static struct icaltimetype
ical_date(struct plane_date d)
{
	struct icaltimetype t = icaltime_null_date();

	t.year = d.year;
	t.month = d.month;
	t.day = d.day;
	return t;
}

static struct icaltimetype
ical_utc(int64_t us)
{
	int64_t sec = us / 1000000;

	if (us % 1000000 < 0)
		sec--;	/* floor, so a time before 1970 keeps its second */
	return icaltime_from_timet_with_zone((time_t)sec, 0,
	    icaltimezone_get_utc_timezone());
}

/* Adds prop to comp; false (and nothing added) if libical had no memory. */
static bool
ical_add(icalcomponent *comp, icalproperty *prop)
{
	if (prop == NULL)
		return false;
	icalcomponent_add_property(comp, prop);
	return true;
}

static bool
ical_add_priority(icalcomponent *ev, enum plane_priority p)
{
	int level = 0;
	const char *color = NULL;

	switch (p) {
	case PLANE_PRIORITY_URGENT:	level = 1; color = "red"; break;
	case PLANE_PRIORITY_HIGH:	level = 3; color = "orange"; break;
	case PLANE_PRIORITY_MEDIUM:	level = 5; color = "gold"; break;
	case PLANE_PRIORITY_LOW:	level = 7; color = "green"; break;
	case PLANE_PRIORITY_NONE:	break;
	}
	if (!ical_add(ev, icalproperty_new_priority(level)))
		return false;
	return color == NULL || ical_add(ev, icalproperty_new_color(color));
}

/* The VEVENT with everything that comes from Plane (the hashed part). */
static bool
ical_fill_event(icalcomponent *ev, const struct plane_issue *issue,
    const struct ical_parts *p)
{
	bool done = issue->state_group == PLANE_GROUP_COMPLETED ||
	    issue->state_group == PLANE_GROUP_CANCELLED;

	return ical_add(ev, icalproperty_new_uid(p->uid)) &&
	    ical_add(ev, icalproperty_new_dtstart(ical_date(issue->target_date))) &&
	    ical_add(ev, icalproperty_new_dtend(
	    ical_date(plane_date_next(issue->target_date)))) &&
	    ical_add(ev, icalproperty_new_summary(p->summary)) &&
	    ical_add(ev, icalproperty_new_description(p->description)) &&
	    ical_add(ev, icalproperty_new_status(done ? ICAL_STATUS_CANCELLED :
	    ICAL_STATUS_CONFIRMED)) &&
	    ical_add_priority(ev, issue->priority) &&
	    (p->url == NULL || ical_add(ev, icalproperty_new_url(p->url)));
}

/*
 * libical's text of cal, refolded by us, with our CATEGORIES lines before
 * END:VEVENT.  libical 3.0 can fold a value's last piece between the CR
 * and the LF that end its line ("...\r" "\r\n " "\n"), leaving a bare CR
 * in the event: so its folds are undone and every line folded again here.
 */
static char *
ical_serialise(icalcomponent *cal, const char *categories)
{
	struct ical_buf flat = { 0 }, b = { 0 };
	char *s, *p, *crlf;

	if ((s = icalcomponent_as_ical_string_r(cal)) == NULL)
		return NULL;
	/* Undo every fold: "\r\n " or "\r\n\t" joins (RFC 5545 §3.1). */
	for (p = s; (crlf = strstr(p, "\r\n")) != NULL; ) {
		bool fold = crlf[2] == ' ' || crlf[2] == '\t';

		ical_buf_add(&flat, p, (size_t)(crlf - p) + (fold ? 0 : 2));
		p = crlf + (fold ? 3 : 2);
	}
	ical_buf_adds(&flat, p);
	icalmemory_free_buffer(s);
	if (flat.oom)
		goto out;
	/* Fold each line again, ours before END:VEVENT. */
	for (p = flat.p; (crlf = strstr(p, "\r\n")) != NULL; p = crlf + 2) {
		/* User text cannot hold a line break, so this line is ours. */
		if ((size_t)(crlf - p) == strlen("END:VEVENT") &&
		    memcmp(p, "END:VEVENT", strlen("END:VEVENT")) == 0)
			ical_buf_adds(&b, categories);
		ical_add_folded(&b, p, (size_t)(crlf - p));
	}
	if (*p != '\0')
		b.oom = true;	/* cannot happen: libical ends lines with CRLF */
out:
	free(flat.p);
	if (flat.oom)
		b.oom = true;
	return ical_buf_finish(&b);
}

static bool
ical_hash(const char *s, char hex[ICAL_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return false;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return true;
}

static icalcomponent *
ical_new_calendar(icalcomponent **ev)
{
	icalcomponent *cal;

	*ev = NULL;
	if ((cal = icalcomponent_new_vcalendar()) == NULL)
		return NULL;
	if (!ical_add(cal, icalproperty_new_prodid(ICAL_PRODID)) ||
	    !ical_add(cal, icalproperty_new_version("2.0")) ||
	    !ical_add(cal, icalproperty_new_calscale("GREGORIAN")) ||
	    (*ev = icalcomponent_new_vevent()) == NULL) {
		icalcomponent_free(cal);
		return NULL;
	}
	icalcomponent_add_component(cal, *ev);
	return cal;
}

enum cpb_err
ical_build_event(const struct plane_issue *issue,
    const struct ical_context *ctx, unsigned sequence, int64_t dtstamp_us,
    char **out, char hash_hex[ICAL_HASH_HEX], char *errmsg)
{
	struct ical_parts parts = { 0 };
	icalcomponent *cal = NULL, *ev;
	char *content = NULL;
	enum cpb_err err;

	if (out == NULL || hash_hex == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "no output buffer");
	*out = NULL;
	if ((err = ical_check(issue, ctx, sequence, errmsg)) != CPB_OK ||
	    (err = ical_make_parts(issue, ctx, &parts, errmsg)) != CPB_OK)
		goto out;
	err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	if ((cal = ical_new_calendar(&ev)) == NULL ||
	    !ical_fill_event(ev, issue, &parts) ||
	    (content = ical_serialise(cal, parts.categories)) == NULL)
		goto out;
	if (!ical_hash(content, hash_hex))
		goto out;
	/* What a sync run or the server changes comes after the hash. */
	if (!ical_add(ev, icalproperty_new_dtstamp(ical_utc(dtstamp_us))) ||
	    (issue->updated_at_us != 0 && issue->updated_at_us <
	    ICAL_TIME_MAX_US && !ical_add(ev,
	    icalproperty_new_lastmodified(ical_utc(issue->updated_at_us)))) ||
	    !ical_add(ev, icalproperty_new_sequence((int)sequence)) ||
	    (*out = ical_serialise(cal, parts.categories)) == NULL)
		goto out;
	err = CPB_OK;
out:
	free(content);
	if (cal != NULL)
		icalcomponent_free(cal);
	ical_parts_free(&parts);
	return err;
}
