/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the meta commands (mg ms md ma mn me): every flag of
 * memcached's protocol.txt, return-flag order, token validation, the error
 * memcached reports when several are present, base64 keys, limits, and
 * data-block skipping for rejected ms lines. Sessions are also replayed at
 * every byte boundary by mc_session.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/mc_parser.h"
#include "mc_session.h"

static char *build(const char *prefix, size_t n, char c, const char *suffix, size_t *len)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);
	assert_non_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	*len = pl + n + sl;
	return s;
}

static void check_built(const char *prefix, size_t n, char c, const char *suffix,
			const char *expect)
{
	size_t len;
	char *in = build(prefix, n, c, suffix, &len);
	mc_session_check_lim(in, len, NULL, expect);
	free(in);
}

static void test_mg(void **state)
{
	(void)state;
	mc_session_check("mg foo\r\n", "mg k=foo\n");
	mc_session_check("mg foo v\r\n", "mg k=foo seen=v\n");
	mc_session_check("mg foo s v t f\r\n", "mg k=foo seen=fstv ret=stf\n");
	mc_session_check("mg foo  v   k \r\n", "mg k=foo seen=kv ret=k\n");
	/* Replies echo return flags in request order. */
	mc_session_check("mg foo t O9 s c\n", "mg k=foo seen=Ocst ret=tOsc O=9\n");
	mc_session_check("mg Zm9v b c f h k l O123 q s t u v E5 N30 R10 T60\r\n",
			 "mg k=Zm9v seen=ENORTbcfhklqstuv ret=cfhklOst b64len=3 T=60 N=30 R=10 "
			 "E=5 O=123\n");
	mc_session_check("mg foo T-5 N-1 R0\r\n", "mg k=foo seen=NRT T=-5 N=-1 R=0\n");
	/* Accepted and ignored by mg, as memcached's shared flag parser does. */
	mc_session_check("mg foo x I P1 L1 MS\r\n", "mg k=foo seen=ILMPx M=S\n");
	mc_session_check("mg\r\n", "ERR ERROR\n");
	mc_session_check("mx foo\r\n", "ERR ERROR\n");
	mc_session_check("mgg foo\r\n", "ERR ERROR\n");
	mc_session_check("mg foo\x01 v\r\n", "ERR CLIENT_ERROR bad command line format\n");
}

static void test_mg_flag_errors(void **state)
{
	(void)state;
	mc_session_check("mg foo zz\r\n", "ERR CLIENT_ERROR invalid flag\n");
	mc_session_check("mg foo 1\r\n", "ERR CLIENT_ERROR invalid flag\n");
	mc_session_check("mg foo W\r\n", "ERR CLIENT_ERROR invalid flag\n");
	mc_session_check("mg foo v v\r\n", "ERR CLIENT_ERROR duplicate flag\n");
	mc_session_check("mg foo \x80\r\n", "ERR CLIENT_ERROR duplicate flag\n");
	mc_session_check("mg foo Tx\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo T\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo N-\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo R+1\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo Cx\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo E-1\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo Fx\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("mg foo Dx\r\n", "ERR CLIENT_ERROR invalid numeric delta value\n");
	mc_session_check("mg foo J-1\r\n", "ERR CLIENT_ERROR invalid numeric initial value\n");
	mc_session_check("mg foo Mxy\r\n", "ERR CLIENT_ERROR incorrect length for M token\n");
	mc_session_check("mg foo M\r\n", "ERR CLIENT_ERROR incorrect length for M token\n");
	/* Precedence: value errors accumulate and the last wins; an unknown or
	 * repeated flag stops the scan. A bad F keeps the earlier message. */
	mc_session_check("mg foo Tx Jx\r\n", "ERR CLIENT_ERROR invalid numeric initial value\n");
	mc_session_check("mg foo Jx Tx\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo Tx zz\r\n", "ERR CLIENT_ERROR invalid flag\n");
	mc_session_check("mg foo Tx v v\r\n", "ERR CLIENT_ERROR duplicate flag\n");
	mc_session_check("mg foo Tx Fx\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo Fx Tx\r\n", "ERR CLIENT_ERROR bad token in command line format\n");
	mc_session_check("mg foo Fx Tx Mab\r\n", "ERR CLIENT_ERROR incorrect length for M token\n");
}

static void test_meta_keys(void **state)
{
	(void)state;
	mc_session_check("mg Zm9v b v\r\n", "mg k=Zm9v seen=bv b64len=3\n");
	mc_session_check("mg AAEC/w== b\r\n", "mg k=AAEC/w== seen=b b64len=4\n");
	mc_session_check("mg foo b v\r\n", "ERR CLIENT_ERROR error decoding key\n");
	mc_session_check("mg ==== b\r\n", "ERR CLIENT_ERROR error decoding key\n");
	mc_session_check("mg Zm9v! b\r\n", "ERR CLIENT_ERROR error decoding key\n");
}

static void test_meta_key_lengths(void **state)
{
	(void)state;
	size_t elen;
	char *ex = build("mg k=", 250, 'k', " seen=v\n", &elen);
	check_built("mg ", 250, 'k', " v\r\n", ex);
	free(ex);
	check_built("mg ", 251, 'k', " v\r\n", "ERR CLIENT_ERROR bad command line format\n");
	check_built("md ", 251, 'k', "\r\n", "ERR CLIENT_ERROR bad command line format\n");
	check_built("ma ", 251, 'k', "\r\n", "ERR CLIENT_ERROR bad command line format\n");
	check_built("me ", 251, 'k', "\r\n", "ERR CLIENT_ERROR bad command line format\n");
	check_built("ms ", 251, 'k', " 2\r\nhi\r\n",
		    "ERR CLIENT_ERROR bad command line format swallow=4\n");
	/* 252 base64 characters would decode to more than 187 bytes: the raw
	 * token limit (250) applies first, as in memcached. */
	check_built("mg ", 252, 'A', " b\r\n", "ERR CLIENT_ERROR bad command line format\n");
	ex = build("mg k=", 248, 'A', " seen=b b64len=186\n", &elen);
	check_built("mg ", 248, 'A', " b\r\n", ex);
	free(ex);
}

static void test_meta_flag_count(void **state)
{
	(void)state;
	/* command + key + 17 flags = 19 tokens is the most memcached takes. */
	mc_session_check("mg Zm9v b c f h k l O1 q s t u v E1 N1 R1 T1 P1\r\n",
			 "mg k=Zm9v seen=ENOPRTbcfhklqstuv ret=cfhklOst b64len=3 T=1 N=1 R=1 E=1 "
			 "O=1\n");
	mc_session_check("mg foo b c f h k l O1 q s t u v E1 N1 R1 T1 P1 L1\r\n",
			 "ERR CLIENT_ERROR options flags are too long\n");
	mc_session_check("ms foo 2 c f h k l O1 q s t u v E1 N1 R1 T1 P1 L1\r\nhi\r\n",
			 "ERR CLIENT_ERROR options flags are too long swallow=4\n");
	mc_session_check("md foo c f h k l O1 q s t u v x E1 N1 R1 T1 P1 L1\r\n",
			 "ERR CLIENT_ERROR options flags are too long\n");
}

static void test_meta_opaque(void **state)
{
	(void)state;
	size_t elen;
	char *ex = build("mg k=foo seen=O ret=O O=", 31, 'o', "\n", &elen);
	check_built("mg foo O", 31, 'o', "\r\n", ex);
	free(ex);
	check_built("mg foo O", 32, 'o', "\r\n", "ERR CLIENT_ERROR opaque token too long\n");
	check_built("md foo O", 32, 'o', "\r\n", "ERR CLIENT_ERROR opaque token too long\n");
	check_built("ma foo O", 32, 'o', "\r\n", "ERR CLIENT_ERROR opaque token too long\n");
	check_built("ms foo 2 O", 32, 'o', "\r\nhi\r\n",
		    "ERR CLIENT_ERROR opaque token too long swallow=4\n");
	/* The mode is checked before the opaque length, as in memcached. */
	check_built("ms foo 2 MX O", 32, 'o', "\r\nhi\r\n",
		    "ERR CLIENT_ERROR invalid mode for ms M token swallow=4\n");
	mc_session_check("mg foo O\r\n", "mg k=foo seen=O ret=O O=\n");
}

static void test_ms(void **state)
{
	(void)state;
	mc_session_check("ms foo 2 T90 F1\r\nhi\r\n", "ms k=foo seen=FT T=90 F=1 b=2 d=hi\n");
	mc_session_check("ms foo 0\r\n\r\n", "ms k=foo b=0 d=\n");
	mc_session_check("ms foo 2\nhi\r\n", "ms k=foo b=2 d=hi\n");
	mc_session_check("ms Zm9v 3 b c C7 E8 F9 I k O1 q s T10 MA N5\r\nabc\r\n",
			 "ms k=Zm9v seen=CEFIMNOTbckqs ret=ckOs b64len=3 T=10 N=5 C=7 E=8 F=9 "
			 "M=A O=1 b=3 d=abc\n");
	mc_session_check("ms foo 2 F4294967295\r\nhi\r\n", "ms k=foo seen=F F=4294967295 b=2 d=hi\n");
	static const char modes[] = "SEAPR";
	for (size_t i = 0; i < 5; i++) {
		char in[64], ex[64];
		snprintf(in, sizeof(in), "ms foo 1 M%c\r\nx\r\n", modes[i]);
		snprintf(ex, sizeof(ex), "ms k=foo seen=M M=%c b=1 d=x\n", modes[i]);
		mc_session_check(in, ex);
	}
	mc_session_check("ms foo 1 MX\r\nx\r\n",
			 "ERR CLIENT_ERROR invalid mode for ms M token swallow=3\n");
	mc_session_check("ms foo 1 Ms\r\nx\r\n",
			 "ERR CLIENT_ERROR invalid mode for ms M token swallow=3\n");
	mc_session_check("ms foo 1 MI\r\nx\r\n",
			 "ERR CLIENT_ERROR invalid mode for ms M token swallow=3\n");
}

static void test_ms_errors(void **state)
{
	(void)state;
	mc_session_check("ms\r\n", "ERR ERROR\n");
	mc_session_check("ms foo\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("ms foo bar\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("ms foo -1\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("ms foo 2147483646\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("ms foo 2 zz\r\nhi\r\n", "ERR CLIENT_ERROR invalid flag swallow=4\n");
	mc_session_check("ms foo 2 T1 T2\r\nhi\r\n", "ERR CLIENT_ERROR duplicate flag swallow=4\n");
	mc_session_check("ms foo 2 Tabc\r\nhi\r\n",
			 "ERR CLIENT_ERROR bad token in command line format swallow=4\n");
	mc_session_check("ms foo 2 Fx\r\nhi\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=4\n");
	mc_session_check("ms foo 2 F4294967296\r\nhi\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=4\n");
	mc_session_check("ms foo 2 b\r\nhi\r\nmn\r\n",
			 "ERR CLIENT_ERROR error decoding key swallow=4\nmn\n");
	/* The block must end in "\r\n"; <datalen> + 2 bytes are consumed. */
	mc_session_check("ms foo 2\r\nhid\r\n", "ERR CLIENT_ERROR bad data chunk\nERR ERROR\n");
	mc_session_check("ms foo 2 q\r\nhi", "PENDING 14\n");

	struct mc_parse_limits lim;
	mc_parse_limits_init(&lim);
	lim.item_size_max = 4;
	const char *big = "ms foo 5 T1\r\nhello\r\nmn\r\n";
	mc_session_check_lim(big, strlen(big), &lim,
			     "ERR SERVER_ERROR object too large for cache swallow=7\nmn\n");
	const char *fits = "ms foo 4 T1\r\nhell\r\n";
	mc_session_check_lim(fits, strlen(fits), &lim, "ms k=foo seen=T T=1 b=4 d=hell\n");
}

static void test_md(void **state)
{
	(void)state;
	mc_session_check("md foo\r\n", "md k=foo\n");
	mc_session_check("md foo q\r\n", "md k=foo seen=q\n");
	mc_session_check("md Zm9v b q I T30 C5 E6 k O1 x\r\n",
			 "md k=Zm9v seen=CEIOTbkqx ret=kO b64len=3 T=30 C=5 E=6 O=1\n");
	/* md and ma report any flag error with one message, as memcached. */
	const char *e = "ERR CLIENT_ERROR invalid or duplicate flag\n";
	mc_session_check("md foo zz\r\n", e);
	mc_session_check("md foo q q\r\n", e);
	mc_session_check("md foo Tx\r\n", e);
	mc_session_check("md foo b\r\n", e);
	mc_session_check("md foo Fx\r\n", e);
	mc_session_check("md\r\n", "ERR ERROR\n");
}

static void test_ma(void **state)
{
	(void)state;
	mc_session_check("ma foo\r\n", "ma k=foo D=1\n");
	mc_session_check("ma foo N0 J13 D5 MD T30 t c v k O1 q E9 C3\r\n",
			 "ma k=foo seen=CDEJMNOTckqtv ret=tckO T=30 N=0 C=3 E=9 J=13 D=5 M=D O=1\n");
	mc_session_check("ma foo D18446744073709551615 J18446744073709551615\r\n",
			 "ma k=foo seen=DJ J=18446744073709551615 D=18446744073709551615\n");
	mc_session_check("ma foo MI\r\n", "ma k=foo seen=M D=1 M=I\n");
	mc_session_check("ma foo M+\r\n", "ma k=foo seen=M D=1 M=+\n");
	mc_session_check("ma foo M-\r\n", "ma k=foo seen=M D=1 M=-\n");
	mc_session_check("ma foo MX\r\n", "ERR CLIENT_ERROR invalid mode for ma M token\n");
	mc_session_check("ma foo Ms\r\n", "ERR CLIENT_ERROR invalid mode for ma M token\n");
	const char *e = "ERR CLIENT_ERROR invalid or duplicate flag\n";
	mc_session_check("ma foo Dx\r\n", e);
	mc_session_check("ma foo D18446744073709551616\r\n", e);
	mc_session_check("ma foo Jx\r\n", e);
	mc_session_check("ma foo Mxy\r\n", e);
	mc_session_check("ma foo v v\r\n", e);
	mc_session_check("ma\r\n", "ERR ERROR\n");
}

static void test_mn_me(void **state)
{
	(void)state;
	mc_session_check("mn\r\n", "mn\n");
	mc_session_check("mn foo bar\r\n", "mn\n");
	mc_session_check("me foo\r\n", "me k=foo\n");
	mc_session_check("me Zm9v b\r\n", "me k=Zm9v seen=b b64len=3\n");
	mc_session_check("me foo b\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("me foo x b\r\n", "me k=foo\n");
	mc_session_check("me\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("me foo\x02\r\n", "ERR CLIENT_ERROR bad command line format\n");
}

static void test_meta_pipeline(void **state)
{
	(void)state;
	mc_session_check("mg a v q\r\nmg b v q k\r\nms c 1 q\r\nx\r\nmd d q\r\nmn\r\n",
			 "mg k=a seen=qv\nmg k=b seen=kqv ret=k\nms k=c seen=q b=1 d=x\n"
			 "md k=d seen=q\nmn\n");
	mc_session_check("ms a 2 zz\r\nhi\r\nms b 2 T0\r\nyo\r\nmg b v\r\n",
			 "ERR CLIENT_ERROR invalid flag swallow=4\nms k=b seen=T T=0 b=2 d=yo\n"
			 "mg k=b seen=v\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mg),
		cmocka_unit_test(test_mg_flag_errors),
		cmocka_unit_test(test_meta_keys),
		cmocka_unit_test(test_meta_key_lengths),
		cmocka_unit_test(test_meta_flag_count),
		cmocka_unit_test(test_meta_opaque),
		cmocka_unit_test(test_ms),
		cmocka_unit_test(test_ms_errors),
		cmocka_unit_test(test_md),
		cmocka_unit_test(test_ma),
		cmocka_unit_test(test_mn_me),
		cmocka_unit_test(test_meta_pipeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
