/*
 * keyring.c
 *		Keyring file loading and key use.
 *
 * The file named by containers_vreg.keyring_file has one key per line,
 * "<key id> <64 hex digits>"; blank lines and lines starting with # are
 * ignored. The highest key id seals, every key opens.
 *
 * The keyring is loaded lazily at first use and re-read whenever the setting
 * or the file (device, inode, size, mtime, ctime) changed, so a changed file
 * takes effect at the next use after pg_reload_conf() (and in every new
 * session) without a restart. Key bytes live in sodium_malloc memory, kept
 * PROT_NONE except during a seal or open, and are wiped (sodium_free) when a
 * keyring is replaced and at backend exit. The file's bytes are read into
 * sodium_malloc memory too and wiped right after parsing. No message ever
 * contains key material: problems name the file and the line number.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "storage/fd.h"
#include "storage/ipc.h"

#include "keyring.h"

#define KEYRING_MAX_FILE_BYTES (64 * 1024)
#define KEYRING_MAX_KEYS 1024	/* the "too many keys" problem names it */

typedef struct VregKey
{
	uint32		kid;
	unsigned char *bytes;		/* sodium_malloc, VREG_ENV_KEYBYTES */
} VregKey;

typedef struct VregKeyring
{
	bool		loaded;
	char	   *path;			/* malloc'd copy of the setting it came from */
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec mtime;
	struct timespec ctime;
	int			nkeys;
	VregKey    *keys;			/* malloc'd */
	uint32		sealing_kid;
} VregKeyring;

static VregKeyring ring;
static bool exit_hook_registered = false;

static void
free_keys(VregKey *keys, int nkeys)
{
	int			i;

	for (i = 0; i < nkeys; i++)
		sodium_free(keys[i].bytes);	/* wipes */
	free(keys);
}

static void
keyring_forget(void)
{
	if (ring.keys)
		free_keys(ring.keys, ring.nkeys);
	free(ring.path);
	memset(&ring, 0, sizeof(ring));
}

static void
keyring_exit(int code, Datum arg)
{
	keyring_forget();
}

#if defined(__APPLE__)
#define ST_MTIM(st) ((st)->st_mtimespec)
#define ST_CTIM(st) ((st)->st_ctimespec)
#else
#define ST_MTIM(st) ((st)->st_mtim)
#define ST_CTIM(st) ((st)->st_ctim)
#endif

static bool
same_file(const struct stat *st, const char *path)
{
	return ring.loaded && ring.path != NULL && strcmp(ring.path, path) == 0 &&
		ring.dev == st->st_dev && ring.ino == st->st_ino &&
		ring.size == st->st_size &&
		ring.mtime.tv_sec == ST_MTIM(st).tv_sec &&
		ring.mtime.tv_nsec == ST_MTIM(st).tv_nsec &&
		ring.ctime.tv_sec == ST_CTIM(st).tv_sec &&
		ring.ctime.tv_nsec == ST_CTIM(st).tv_nsec;
}

/* Is c a blank inside a line? */
#define IS_BLANK(c) ((c) == ' ' || (c) == '\t')

/*
 * Split one line text[start, end) into its key id and hex fields: *skip for a
 * blank or comment line, otherwise the id parsed into *kid and the hex field
 * at [*hexstart, *hexend). Returns NULL or a problem.
 */
static const char *
split_line(const char *text, size_t start, size_t end, bool *skip, uint32 *kid,
		   size_t *hexstart, size_t *hexend)
{
	size_t		p = start,
				idstart,
				idend;

	while (p < end && IS_BLANK(text[p]))
		p++;
	*skip = (p == end || text[p] == '#');
	if (*skip)
		return NULL;
	idstart = p;
	while (p < end && !IS_BLANK(text[p]))
		p++;
	idend = p;
	while (p < end && IS_BLANK(text[p]))
		p++;
	*hexstart = p;
	while (p < end && !IS_BLANK(text[p]))
		p++;
	*hexend = p;
	while (p < end && IS_BLANK(text[p]))
		p++;
	if (*hexstart == *hexend || p != end)
		return "expected \"<key id> <64 hexadecimal digits>\"";
	if (vreg_env_parse_kid(text + idstart, idend - idstart, kid) != 0)
		return "the key id must be a whole number between 1 and 2147483647";
	return NULL;
}

/* The 64 hex digits at text[hexstart, hexend) as key bytes, or a problem. */
static const char *
decode_key(const char *text, size_t hexstart, size_t hexend, unsigned char **bytes_out)
{
	size_t		binlen = 0;
	const char *hexend_p = NULL;
	unsigned char *bytes;

	if (hexend - hexstart != 2 * VREG_ENV_KEYBYTES)
		return "the key must be exactly 64 hexadecimal digits (32 bytes)";
	bytes = sodium_malloc(VREG_ENV_KEYBYTES);
	if (bytes == NULL)
		return "out of memory";
	if (sodium_hex2bin(bytes, VREG_ENV_KEYBYTES, text + hexstart, hexend - hexstart,
					   NULL, &binlen, &hexend_p) != 0 ||
		binlen != VREG_ENV_KEYBYTES || hexend_p != text + hexend)
	{
		sodium_free(bytes);
		return "the key must be exactly 64 hexadecimal digits (32 bytes)";
	}
	sodium_mprotect_noaccess(bytes);
	*bytes_out = bytes;
	return NULL;
}

/*
 * Parse the file text into keys. No ereport and no palloc in here, so the
 * caller always gets to wipe the buffer. Returns NULL or a problem, with
 * *lineno set to its line (0: the file as a whole) and *dup_kid to a key id
 * that appears twice.
 */
static const char *
parse_keyring(char *text, size_t len, VregKey **keys_out, int *nkeys_out, int *lineno,
			  uint32 *dup_kid)
{
	VregKey    *keys = calloc(KEYRING_MAX_KEYS, sizeof(VregKey));
	int			nkeys = 0;
	size_t		pos = 0;
	const char *problem = NULL;

	*lineno = 0;
	if (keys == NULL)
		return "out of memory";
	while (pos < len && problem == NULL)
	{
		size_t		start = pos,
					end,
					hexstart = 0,
					hexend = 0;
		uint32		kid = 0;
		bool		skip;
		int			i;

		(*lineno)++;
		while (pos < len && text[pos] != '\n')
			pos++;
		end = pos++;			/* past the newline */
		if (end > start && text[end - 1] == '\r')
			end--;
		problem = split_line(text, start, end, &skip, &kid, &hexstart, &hexend);
		if (problem != NULL || skip)
			continue;
		for (i = 0; i < nkeys; i++)
			if (keys[i].kid == kid)
			{
				*dup_kid = kid;
				problem = "duplicate key id";
			}
		if (problem == NULL && nkeys >= KEYRING_MAX_KEYS)
			problem = "too many keys (at most 1024)";
		if (problem == NULL)
			problem = decode_key(text, hexstart, hexend, &keys[nkeys].bytes);
		if (problem == NULL)
			keys[nkeys++].kid = kid;
	}
	if (problem == NULL && nkeys == 0)
	{
		*lineno = 0;
		problem = "the keyring file contains no keys";
	}
	if (problem != NULL)
	{
		free_keys(keys, nkeys);
		return problem;
	}
	*keys_out = keys;
	*nkeys_out = nkeys;
	return NULL;
}

/*
 * The hint of every keyring error: how the file must look. A function, so
 * that each ereport() names it while the sentence is written once.
 */
static int
keyring_errhint(void)
{
	return errhint("The keyring file has one line \"<key id> <64 hex digits>\" per key (e.g. from \"openssl rand -hex 32\"), is owned by the server's OS user with mode 0600, and is named by containers_vreg.keyring_file; after a change run SELECT pg_reload_conf().");
}

/* What kind of file st is, for the "not a regular file" detail. */
static const char *
file_kind(const struct stat *st)
{
	return S_ISFIFO(st->st_mode) ? "FIFO" :
		S_ISDIR(st->st_mode) ? "directory" :
		S_ISCHR(st->st_mode) ? "character device" :
		S_ISBLK(st->st_mode) ? "block device" :
		S_ISSOCK(st->st_mode) ? "socket" : "special file";
}

/*
 * Open the keyring file without blocking, then decide on what was opened. A
 * plain open() of a FIFO waits for a writer, in the kernel, beyond
 * statement_timeout and pg_terminate_backend(); O_NONBLOCK returns at once
 * for a FIFO (and changes nothing for a regular file). The type is checked on
 * the open descriptor (fstat into *st), never on the path, so the file cannot
 * be swapped between the check and the read. A symbolic link is followed, as
 * for ssl_key_file: the rules apply to its target. Returns the descriptor of
 * a regular file, in blocking mode again. The caller has forgotten the old
 * keyring (so an error leaves none).
 */
static int
keyring_open(const char *path, struct stat *st)
{
	int			fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | PG_BINARY);
	int			flags;

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open keyring file \"%s\": %m", path),
				 keyring_errhint()));
	if (fstat(fd, st) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat keyring file \"%s\": %m", path)));
	}
	if (!S_ISREG(st->st_mode))
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" is not a regular file", path),
				 errdetail("It is a %s; the keyring must be a regular file (a symbolic link to one is followed).",
						   file_kind(st)),
				 keyring_errhint()));
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not set keyring file \"%s\" to blocking reads: %m", path)));
	}
	return fd;
}

/*
 * The same ownership and mode rules as PostgreSQL's ssl_key_file, and a size
 * limit. Closes fd when it refuses.
 */
static void
keyring_check(int fd, const char *path, const struct stat *st)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" must be owned by the database server's OS user or root", path),
				 keyring_errhint()));
	}
	if ((st->st_uid == geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO))) ||
		(st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" has group or world access", path),
				 errdetail("The file must have permissions u=rw (0600) or less if owned by the database server's OS user, or u=rw,g=r (0640) or less if owned by root."),
				 keyring_errhint()));
	}
	if (st->st_size > KEYRING_MAX_FILE_BYTES)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" is larger than %d bytes", path, KEYRING_MAX_FILE_BYTES),
				 keyring_errhint()));
	}
}

/*
 * Read the whole file (st->st_size bytes) into sodium_malloc memory, which
 * the caller wipes with sodium_free. Closes fd.
 */
static char *
keyring_read(int fd, const char *path, const struct stat *st)
{
	char	   *text = sodium_malloc((size_t) st->st_size + 1);
	ssize_t		got;
	int			save_errno;

	if (text == NULL)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory reading keyring file \"%s\"", path)));
	}
	got = read(fd, text, (size_t) st->st_size);
	save_errno = errno;
	CloseTransientFile(fd);
	if (got == st->st_size)
		return text;
	sodium_free(text);
	errno = save_errno;
	if (got < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read keyring file \"%s\": %m", path)));
	ereport(ERROR,
			(errcode(ERRCODE_IO_ERROR),
			 errmsg("keyring file \"%s\" changed while it was read", path),
			 errhint("Try again.")));
	return NULL;				/* keep compiler quiet */
}

/* Parse text (wiping it) into keys, or report the problem with its line. */
static void
keyring_parse(char *text, size_t len, const char *path, VregKey **keys, int *nkeys)
{
	int			lineno = 0;
	uint32		dup_kid = 0;
	const char *problem = parse_keyring(text, len, keys, nkeys, &lineno, &dup_kid);

	sodium_free(text);			/* wipes the file's bytes */
	if (problem == NULL)
		return;
	if (dup_kid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\", line %d: key id %u appears more than once",
						path, lineno, dup_kid),
				 keyring_errhint()));
	if (lineno > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\", line %d: %s", path, lineno, problem),
				 keyring_errhint()));
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("keyring file \"%s\": %s", path, problem),
			 keyring_errhint()));
}

/* Make keys (read from the file described by st) the keyring. */
static void
keyring_install(const char *path, const struct stat *st, VregKey *keys, int nkeys)
{
	int			i;

	ring.path = strdup(path);
	if (ring.path == NULL)
	{
		free_keys(keys, nkeys);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	ring.keys = keys;
	ring.nkeys = nkeys;
	ring.dev = st->st_dev;
	ring.ino = st->st_ino;
	ring.size = st->st_size;
	ring.mtime = ST_MTIM(st);
	ring.ctime = ST_CTIM(st);
	ring.sealing_kid = 0;
	for (i = 0; i < nkeys; i++)
		if (keys[i].kid > ring.sealing_kid)
			ring.sealing_kid = keys[i].kid;
	ring.loaded = true;
	if (!exit_hook_registered)
	{
		on_proc_exit(keyring_exit, (Datum) 0);
		exit_hook_registered = true;
	}
}

/*
 * Load the keyring unless the one loaded came from the same file, unchanged:
 * open, check, read, parse, install. Any error leaves no keyring loaded (the
 * old one is forgotten, and wiped, first).
 */
static void
keyring_load(void)
{
	const char *path = vreg_keyring_file;
	struct stat st;
	int			fd;
	char	   *text;
	VregKey    *keys = NULL;
	int			nkeys = 0;

	if (path == NULL || path[0] == '\0')
	{
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no keyring is configured for upstream credentials"),
				 errdetail("The setting containers_vreg.keyring_file is empty."),
				 keyring_errhint()));
	}
	if (stat(path, &st) != 0)
	{
		keyring_forget();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat keyring file \"%s\": %m", path),
				 keyring_errhint()));
	}
	if (same_file(&st, path))
		return;

	keyring_forget();
	fd = keyring_open(path, &st);
	keyring_check(fd, path, &st);
	text = keyring_read(fd, path, &st);
	keyring_parse(text, (size_t) st.st_size, path, &keys, &nkeys);
	keyring_install(path, &st, keys, nkeys);
	ereport(DEBUG1,
			(errmsg_internal("loaded %d key(s) from keyring file \"%s\", sealing key id %u",
							 nkeys, path, ring.sealing_kid)));
}

uint32
vreg_keyring_sealing_kid(void)
{
	keyring_load();
	return ring.sealing_kid;
}

static VregKey *
find_key(uint32 kid)
{
	int			i;

	for (i = 0; i < ring.nkeys; i++)
		if (ring.keys[i].kid == kid)
			return &ring.keys[i];
	return NULL;
}

void
vreg_keyring_seal(VregEnvelope *env, const uint8 *pt, size_t ptlen,
				  const uint8 *ad, size_t adlen)
{
	VregKey    *key;
	int			rc;

	keyring_load();
	key = find_key(ring.sealing_kid);
	Assert(key != NULL);
	env->kid = key->kid;
	sodium_mprotect_readonly(key->bytes);
	rc = vreg_env_seal(env, key->bytes, pt, ptlen, ad, adlen);
	sodium_mprotect_noaccess(key->bytes);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("libsodium could not seal credentials")));
}

VregOpenResult
vreg_keyring_open(const VregEnvelope *env, uint8 *pt, size_t cap, size_t *ptlen,
				  const uint8 *ad, size_t adlen)
{
	VregKey    *key;
	int			rc;

	keyring_load();
	key = find_key(env->kid);
	if (key == NULL)
		return VREG_OPEN_NO_KEY;
	sodium_mprotect_readonly(key->bytes);
	rc = vreg_env_open(env, key->bytes, pt, cap, ptlen, ad, adlen);
	sodium_mprotect_noaccess(key->bytes);
	return rc == 0 ? VREG_OPEN_OK : VREG_OPEN_FAILED;
}
