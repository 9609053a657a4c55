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
#define KEYRING_MAX_KEYS 1024

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

/*
 * Parse the file text into keys. No ereport and no palloc in here, so the
 * caller always gets to wipe the buffer. Returns NULL or a problem, with
 * *lineno set to its line.
 */
static const char *
parse_keyring(char *text, size_t len, VregKey **keys_out, int *nkeys_out, int *lineno,
			  uint32 *dup_kid)
{
	VregKey    *keys = calloc(KEYRING_MAX_KEYS, sizeof(VregKey));
	int			nkeys = 0;
	size_t		pos = 0;

	*lineno = 0;
	if (keys == NULL)
		return "out of memory";
	while (pos < len)
	{
		size_t		start = pos,
					end,
					p,
					idstart,
					idend,
					hexstart,
					hexend;
		uint32		kid;
		int			i;

		(*lineno)++;
		while (pos < len && text[pos] != '\n')
			pos++;
		end = pos;
		pos++;					/* skip the newline */
		if (end > start && text[end - 1] == '\r')
			end--;

		p = start;
		while (p < end && (text[p] == ' ' || text[p] == '\t'))
			p++;
		if (p == end || text[p] == '#')
			continue;

		idstart = p;
		while (p < end && text[p] != ' ' && text[p] != '\t')
			p++;
		idend = p;
		while (p < end && (text[p] == ' ' || text[p] == '\t'))
			p++;
		hexstart = p;
		while (p < end && text[p] != ' ' && text[p] != '\t')
			p++;
		hexend = p;
		while (p < end && (text[p] == ' ' || text[p] == '\t'))
			p++;

		if (hexstart == hexend || p != end)
			goto bad_format;
		if (vreg_env_parse_kid(text + idstart, idend - idstart, &kid) != 0)
		{
			free_keys(keys, nkeys);
			return "the key id must be a whole number between 1 and 2147483647";
		}
		for (i = 0; i < nkeys; i++)
			if (keys[i].kid == kid)
			{
				free_keys(keys, nkeys);
				*dup_kid = kid;
				return "duplicate key id";
			}
		if (nkeys >= KEYRING_MAX_KEYS)
		{
			free_keys(keys, nkeys);
			return "too many keys (at most 1024)";
		}
		{
			size_t		binlen = 0;
			const char *hexend_p = NULL;
			unsigned char *bytes;

			if (hexend - hexstart != 2 * VREG_ENV_KEYBYTES)
				goto bad_key;
			bytes = sodium_malloc(VREG_ENV_KEYBYTES);
			if (bytes == NULL)
			{
				free_keys(keys, nkeys);
				return "out of memory";
			}
			if (sodium_hex2bin(bytes, VREG_ENV_KEYBYTES, text + hexstart, hexend - hexstart,
							   NULL, &binlen, &hexend_p) != 0 ||
				binlen != VREG_ENV_KEYBYTES || hexend_p != text + hexend)
			{
				sodium_free(bytes);
				goto bad_key;
			}
			sodium_mprotect_noaccess(bytes);
			keys[nkeys].kid = kid;
			keys[nkeys].bytes = bytes;
			nkeys++;
		}
		continue;

bad_key:
		free_keys(keys, nkeys);
		return "the key must be exactly 64 hexadecimal digits (32 bytes)";
bad_format:
		free_keys(keys, nkeys);
		return "expected \"<key id> <64 hexadecimal digits>\"";
	}
	if (nkeys == 0)
	{
		free_keys(keys, nkeys);
		*lineno = 0;
		return "the keyring file contains no keys";
	}
	*keys_out = keys;
	*nkeys_out = nkeys;
	return NULL;
}

#define KEYRING_HINT \
	"The keyring file has one line \"<key id> <64 hex digits>\" per key (e.g. from \"openssl rand -hex 32\"), is owned by the server's OS user with mode 0600, and is named by containers_vreg.keyring_file; after a change run SELECT pg_reload_conf()."

/*
 * An I/O error on the open keyring file (errno set): close it and report.
 * Never returns (ereport ERROR).
 */
static void
keyring_file_error(int fd, const char *path, const char *action)
{
	int			save_errno = errno;

	CloseTransientFile(fd);
	keyring_forget();
	errno = save_errno;
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("could not %s keyring file \"%s\": %m", action, path)));
}

static void
keyring_load(void)
{
	const char *path = vreg_keyring_file;
	struct stat st;
	int			fd;
	char	   *text;
	ssize_t		got;
	const char *problem;
	VregKey    *keys = NULL;
	int			nkeys = 0;
	int			lineno = 0;
	uint32		dup_kid = 0;
	int			i;

	if (path == NULL || path[0] == '\0')
	{
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no keyring is configured for upstream credentials"),
				 errdetail("The setting containers_vreg.keyring_file is empty."),
				 errhint(KEYRING_HINT)));
	}
	if (stat(path, &st) != 0)
	{
		keyring_forget();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read keyring file \"%s\": %m", path),
				 errhint(KEYRING_HINT)));
	}
	if (same_file(&st, path))
		return;

	/*
	 * Open without blocking, then decide on what was opened. A plain open()
	 * of a FIFO waits for a writer, in the kernel, beyond statement_timeout
	 * and pg_terminate_backend(); O_NONBLOCK returns at once for a FIFO (and
	 * changes nothing for a regular file). The type is checked on the open
	 * descriptor (fstat), never on the path, so the file cannot be swapped
	 * between the check and the read. A symbolic link is followed, as for
	 * ssl_key_file: the rules below apply to its target.
	 */
	fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | PG_BINARY);
	if (fd < 0)
	{
		keyring_forget();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open keyring file \"%s\": %m", path),
				 errhint(KEYRING_HINT)));
	}
	if (fstat(fd, &st) != 0)
		keyring_file_error(fd, path, "stat");
	if (!S_ISREG(st.st_mode))
	{
		CloseTransientFile(fd);
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" is not a regular file", path),
				 errdetail("It is a %s; the keyring must be a regular file (a symbolic link to one is followed).",
						   S_ISFIFO(st.st_mode) ? "FIFO" :
						   S_ISDIR(st.st_mode) ? "directory" :
						   S_ISCHR(st.st_mode) ? "character device" :
						   S_ISBLK(st.st_mode) ? "block device" :
						   S_ISSOCK(st.st_mode) ? "socket" : "special file"),
				 errhint(KEYRING_HINT)));
	}
	/* A regular file: back to blocking reads. */
	{
		int			flags = fcntl(fd, F_GETFL);

		if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
			keyring_file_error(fd, path, "read");
	}
	/* The same ownership and mode rules as PostgreSQL's ssl_key_file. */
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" must be owned by the database server's OS user or root", path),
				 errhint(KEYRING_HINT)));
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
	{
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" has group or world access", path),
				 errdetail("The file must have permissions u=rw (0600) or less if owned by the database server's OS user, or u=rw,g=r (0640) or less if owned by root."),
				 errhint(KEYRING_HINT)));
	}
	if (st.st_size > KEYRING_MAX_FILE_BYTES)
	{
		keyring_forget();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\" is larger than %d bytes", path, KEYRING_MAX_FILE_BYTES),
				 errhint(KEYRING_HINT)));
	}

	text = sodium_malloc((size_t) st.st_size + 1);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory reading keyring file \"%s\"", path)));
	got = read(fd, text, (size_t) st.st_size);
	if (got != st.st_size)
	{
		int			save_errno = errno;

		sodium_free(text);
		keyring_forget();
		errno = save_errno;
		if (got < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read keyring file \"%s\": %m", path)));
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("keyring file \"%s\" changed while it was read", path),
				 errhint("Try again.")));
	}
	CloseTransientFile(fd);

	problem = parse_keyring(text, (size_t) got, &keys, &nkeys, &lineno, &dup_kid);
	sodium_free(text);			/* wipes the file's bytes */
	if (problem != NULL)
	{
		keyring_forget();
		if (dup_kid != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("keyring file \"%s\", line %d: key id %u appears more than once",
							path, lineno, dup_kid),
					 errhint(KEYRING_HINT)));
		if (lineno > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("keyring file \"%s\", line %d: %s", path, lineno, problem),
					 errhint(KEYRING_HINT)));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("keyring file \"%s\": %s", path, problem),
				 errhint(KEYRING_HINT)));
	}

	/* Success: replace the old keyring (wiping it). */
	keyring_forget();
	ring.path = strdup(path);
	if (ring.path == NULL)
	{
		free_keys(keys, nkeys);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	ring.keys = keys;
	ring.nkeys = nkeys;
	ring.dev = st.st_dev;
	ring.ino = st.st_ino;
	ring.size = st.st_size;
	ring.mtime = ST_MTIM(&st);
	ring.ctime = ST_CTIM(&st);
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
	ereport(DEBUG1,
			(errmsg_internal("containers_vreg: loaded %d key(s) from keyring file \"%s\", sealing key id %u",
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
