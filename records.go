package kefu

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"time"
)

const msgRecordPath = "/customservice/msgrecord/getmsglist"

// Limits of POST /customservice/msgrecord/getmsglist: one query spans at
// most 24 hours (WeChat: 65417) and returns at most 10,000 records (65416).
const (
	MaxRecordSpan  = 24 * time.Hour
	MaxRecordsPage = 10000
)

// maxRecordAnswer bounds a page of records: 10,000 records with long texts
// run to megabytes, past the 1 MiB bound of other answers.
const maxRecordAnswer = 64 << 20

// OperCode is what a message record is about.
type OperCode int

// The operation codes of message records.
const (
	OperSessionCreated  OperCode = 1000 // a session was created, not yet taken
	OperSessionAccepted OperCode = 1001 // a worker took a session
	OperSessionStarted  OperCode = 1002 // a worker started a session
	OperSessionTransfer OperCode = 1003 // a session was transferred
	OperSessionClosed   OperCode = 1004 // a session was closed
	OperSessionSnatched OperCode = 1005 // a worker took over a session
	OperReceived        OperCode = 2001 // the Official Account received a message
	OperSent            OperCode = 2002 // a worker sent a message
	OperWorkerReceived  OperCode = 2003 // a worker received a message
)

// Record is one entry of the customer-service message records.
type Record struct {
	OpenID   string
	OperCode OperCode
	Text     string    // the message text, for text messages
	Time     time.Time // second precision
	Worker   string    // the customer-service account, if any
}

type recordWire struct {
	OpenID   string   `json:"openid"`
	OperCode OperCode `json:"opercode"`
	Text     string   `json:"text"`
	Time     int64    `json:"time"`
	Worker   string   `json:"worker"`
}

// record converts w to the Record it encodes.
func (w recordWire) record() Record {
	return Record{OpenID: w.OpenID, OperCode: w.OperCode, Text: w.Text, Time: time.Unix(w.Time, 0), Worker: w.Worker}
}

// MarshalJSON writes r as WeChat's record list does.
func (r Record) MarshalJSON() ([]byte, error) {
	return marshalWire(recordWire{r.OpenID, r.OperCode, r.Text, r.Time.Unix(), r.Worker})
}

// UnmarshalJSON reads an entry of WeChat's record list.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w recordWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = w.record()
	return nil
}

// RecordPage is one page of message records.
type RecordPage struct {
	Records []Record
	// NextMsgID is the msgid to ask for the next page with. A page with
	// fewer records than asked for is the last one.
	NextMsgID int64
}

// RecordsPage reads one page of message records (POST
// /customservice/msgrecord/getmsglist): the records from start to end
// (inclusive, in whole seconds; at most MaxRecordSpan apart), from msgID on
// (the first page is msgID 1), at most number (1 to MaxRecordsPage) of
// them. Records does the paging and the splitting into 24-hour windows for
// you. A read: retried on unknown outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Obtain_chat_transcript.html
func (c *Client) RecordsPage(ctx context.Context, start, end time.Time, msgID int64, number int) (*RecordPage, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	var v validator
	switch {
	case !start.Before(end):
		v.add("endtime", "must be after starttime")
	case end.Unix()-start.Unix() > int64(MaxRecordSpan/time.Second):
		v.add("endtime", "must be at most 24 hours after starttime")
	}
	if msgID < 1 {
		v.add("msgid", "must be at least 1")
	}
	if number < 1 || number > MaxRecordsPage {
		v.add("number", "must be 1 to "+strconv.Itoa(MaxRecordsPage))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return c.recordPage(ctx, start.Unix(), end.Unix(), msgID, number)
}

func (c *Client) recordPage(ctx context.Context, start, end, msgID int64, number int) (*RecordPage, error) {
	body, err := marshalWire(struct {
		StartTime int64 `json:"starttime"`
		EndTime   int64 `json:"endtime"`
		MsgID     int64 `json:"msgid"`
		Number    int   `json:"number"`
	}{start, end, msgID, number})
	if err != nil {
		return nil, err
	}
	var a struct {
		List   []recordWire `json:"recordlist"`
		Number *int         `json:"number"`
		MsgID  int64        `json:"msgid"`
	}
	// A read, though a POST: retried on unknown outcomes.
	r := &request{method: http.MethodPost, path: msgRecordPath, retryUnknown: true, maxAnswer: maxRecordAnswer,
		out: &a, hasData: func() bool { return a.List != nil || a.Number != nil }}
	if err := c.do(ctx, r.withJSON(body)); err != nil {
		return nil, err
	}
	p := &RecordPage{Records: make([]Record, len(a.List)), NextMsgID: a.MsgID}
	for i, w := range a.List {
		p.Records[i] = w.record()
	}
	return p, nil
}

// Records returns the message records from start (inclusive) to end
// (exclusive), at second precision, oldest window first. It splits the span
// into windows of at most 24 hours, as WeChat requires, and reads each
// window in pages of 10,000 records, one request per page, as the loop
// needs them: breaking out of the loop, or ctx ending, stops it at once. A
// span that is not positive yields one validation error. An error ends the
// sequence, after it is yielded with a zero Record.
//
//	for rec, err := range c.Records(ctx, from, to) {
//		if err != nil { return err }
//		...
//	}
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Obtain_chat_transcript.html
func (c *Client) Records(ctx context.Context, start, end time.Time) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if ctx == nil {
			yield(Record{}, errNilContext)
			return
		}
		if !start.Before(end) {
			yield(Record{}, &ValidationError{Field: "end", Rule: "must be after start"})
			return
		}
		first, last := start.Unix(), end.Unix() // the seconds to read, both included
		if start.Nanosecond() != 0 {
			first++
		}
		if end.Nanosecond() == 0 {
			last--
		}
		const window = int64(MaxRecordSpan/time.Second) - 1 // end-start of a full window
		for from := first; from <= last; from += window + 1 {
			to := min(from+window, last)
			for msgID := int64(1); ; {
				if err := ctx.Err(); err != nil {
					yield(Record{}, err)
					return
				}
				page, err := c.recordPage(ctx, from, to, msgID, MaxRecordsPage)
				if err != nil {
					yield(Record{}, err)
					return
				}
				for _, rec := range page.Records {
					if err := ctx.Err(); err != nil {
						yield(Record{}, err)
						return
					}
					if !yield(rec, nil) {
						return
					}
				}
				if len(page.Records) < MaxRecordsPage {
					break
				}
				if page.NextMsgID <= msgID {
					yield(Record{}, &HTTPError{Path: msgRecordPath, StatusCode: http.StatusOK,
						Problem: fmt.Sprintf("a full page from msgid %d answered msgid %d: paging would not advance", msgID, page.NextMsgID)})
					return
				}
				msgID = page.NextMsgID
			}
		}
	}
}
