package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
)

func TestRecords(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	status, body := f.admin(t, http.MethodGet, "/kefutest/now", "")
	require.Equal(t, http.StatusOK, status, body)
	var clock struct{ Now int64 }
	require.NoError(t, json.Unmarshal([]byte(body), &clock), body)
	now := time.Unix(clock.Now, 0)

	// Two days ago, yesterday and now: Records reads across 24-hour windows.
	for i, ago := range []int64{2 * 86400, 86400, 0} {
		status, body := f.admin(t, http.MethodPost, "/kefutest/add_record",
			fmt.Sprintf(`{"openid":"o1","opercode":2001,"text":"m%d","time":%d}`, i, clock.Now-ago))
		require.Equal(t, http.StatusOK, status, body)
	}
	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, "", "send", "--to", "o1", "--text", "reply"))

	from := now.Add(-3 * 24 * time.Hour)
	r := f.kefu(t, "", "records", "--from", from.Format(time.RFC3339), "--to", now.Add(time.Minute).Format(time.RFC3339))
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr, r)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 4, r)
	var texts []string
	for _, line := range lines {
		var rec kefu.Record
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		texts = append(texts, rec.Text)
	}
	assert.Equal(t, []string{"m0", "m1", "m2", "reply"}, texts)
	assert.Equal(t, fmt.Sprintf(`{"openid":"o1","opercode":2001,"text":"m0","time":%d,"worker":""}`, clock.Now-2*86400), lines[0])

	// Local "2006-01-02 15:04", --to by default now: the last day only; --json changes nothing.
	local := now.Add(-12 * time.Hour).Local().Format("2006-01-02 15:04")
	r = f.kefu(t, "", "records", "--json", "--from", local, "--to", now.Add(time.Minute).Local().Format("2006-01-02 15:04:05"))
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, 2, strings.Count(r.stdout, "\n"), r)

	// WeChat refuses: nothing on stdout, the errcode on stderr, exit 1.
	status, body = f.admin(t, http.MethodPost, "/kefutest/fail_next", `{"path":"/customservice/msgrecord/getmsglist","n":3,"errcode":45009}`)
	require.Equal(t, http.StatusOK, status, body)
	r = f.kefu(t, "", "records", "--from", from.Format(time.RFC3339))
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stdout, r)
	assert.Contains(t, r.stderr, "kefu records: errcode 45009", r)
}

func TestRecordsUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"records"}, env: creds, want: "--from is required"},
		{args: []string{"records", "--from", "yesterday"}, env: creds, want: `"yesterday" is not a time: use RFC 3339`},
		{args: []string{"records", "--from", "2025-06-02 00:00", "--to", "2025-06-01 00:00"}, env: creds, want: "must be after --from"},
	})
}
