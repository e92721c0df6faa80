package kefutest

// The admin endpoints of WithAdminAPI: they drive the fake from outside its
// process, for programs that cannot call the Server's methods (kefu fake).
// They are not WeChat's: a server without WithAdminAPI answers 404 there, as
// WeChat would.
//
// POST endpoints take one JSON object, decoded strictly (an unknown field is
// an error), and answer {"errcode":0,"errmsg":"ok"}; GET endpoints answer
// their data as JSON. Instants are Unix seconds of the server's clock. An
// openid, media id, kf_account or worker is at most 128 bytes.
const (
	// PathAdminInteract: POST {"openid":"o1","action":"UserMessage"} calls
	// Interact; "action" is an Action's String, case-insensitive.
	PathAdminInteract = "/kefutest/interact"
	// PathAdminAddUser: POST {"openid":"o1"} calls AddUser: a follower
	// without a window, whom a send answers 45015.
	PathAdminAddUser = "/kefutest/add_user"
	// PathAdminUnfollow: POST {"openid":"o1"} calls Unfollow.
	PathAdminUnfollow = "/kefutest/unfollow"
	// PathAdminWindow: GET ?openid=o1&action=UserMessage answers Window as
	// {"open":true,"closes":UNIX,"left":5}: closes 0 if the action never
	// opened one, left -1 for no limit (Payment).
	PathAdminWindow = "/kefutest/window"
	// PathAdminWindows: GET ?openid=o1 answers Windows, the fake's own view
	// of the user in kefu.WindowTracker's terms, with each action's window:
	// {"known":true,"open":true,"remaining":5,"closes":UNIX,
	// "windows":[{"action":"UserMessage","open":true,"closes":UNIX,"left":5}]}.
	PathAdminWindows = "/kefutest/windows"
	// PathAdminTyping: GET ?openid=o1 answers Typing as {"typing":false}.
	PathAdminTyping = "/kefutest/typing"
	// PathAdminMessages: GET ?openid=o1 answers Messages as a JSON array of
	// the messages' bodies, [] if none; a passive reply to a push has
	// "passive":true beside its body's keys (sent messages have no such
	// key).
	PathAdminMessages = "/kefutest/messages"

	// PathAdminAdvance: POST {"seconds":3600} calls Advance (seconds from 0
	// to 9223372036, fractions allowed) and answers the new time as "now".
	PathAdminAdvance = "/kefutest/advance"
	// PathAdminNow: GET answers Now as {"now":UNIX,"time":"RFC 3339"}.
	PathAdminNow = "/kefutest/now"
	// PathAdminRotateTokens: POST, body ignored, calls RotateTokens.
	PathAdminRotateTokens = "/kefutest/rotate_tokens"
	// PathAdminTokens: GET answers IssuedTokens as a JSON array.
	PathAdminTokens = "/kefutest/tokens"
	// PathAdminReset: POST, body ignored, calls Reset.
	PathAdminReset = "/kefutest/reset"

	// PathAdminFailNext: POST {"path":PathSend,"n":1,"errcode":-1} calls
	// FailNext. Every fault endpoint takes one of the WeChat Path
	// constants (PathAdminCalls lists them) and n >= 0, and queues at most
	// 1000 faults per path.
	PathAdminFailNext = "/kefutest/fail_next"
	// PathAdminDropNext: POST {"path":PathSend,"n":1} calls DropNext.
	PathAdminDropNext = "/kefutest/drop_next"
	// PathAdminStatusNext: POST {"path":PathSend,"n":1,"status":503} calls
	// StatusNext (status 200 to 599).
	PathAdminStatusNext = "/kefutest/status_next"
	// PathAdminDelayNext: POST {"path":PathSend,"n":1,"seconds":0.5} calls
	// DelayNext (seconds >= 0, fractions allowed).
	PathAdminDelayNext = "/kefutest/delay_next"
	// PathAdminRawNext: POST {"path":PathSend,"n":1,"status":200,"body":"{"}
	// calls RawNext with body's UTF-8 bytes (status 200 to 599).
	PathAdminRawNext = "/kefutest/raw_next"
	// PathAdminCalls: GET answers Calls for every WeChat path as a JSON
	// object, path -> count; ?path=P for P alone.
	PathAdminCalls = "/kefutest/calls"
	// PathAdminRequests: GET answers the log of the latest 1000 requests to
	// the WeChat paths, oldest first, as a JSON array; ?path=P for those to
	// P. See WithAdminAPI for an entry's fields.
	PathAdminRequests = "/kefutest/requests"

	// PathAdminAddMedia: POST {"kind":"image","media_id":"m1"} calls
	// AddMedia; kind is a MediaKind.
	PathAdminAddMedia = "/kefutest/add_media"
	// PathAdminUploads: GET answers every Upload as a JSON array, oldest
	// first: {"id","path","kind","filename","size","sha256" (hex),"created"}.
	PathAdminUploads = "/kefutest/uploads"
	// PathAdminAddAccount: POST {"kf_account":"kf01@shop","nickname":"Alice"}
	// calls AddAccount; at most 100 accounts.
	PathAdminAddAccount = "/kefutest/add_account"
	// PathAdminSetOnline: POST {"kf_account":"kf01@shop","online":true}
	// calls SetOnline.
	PathAdminSetOnline = "/kefutest/set_online"
	// PathAdminAcceptInvite: POST {"kf_account":"kf01@shop"} calls
	// AcceptInvite.
	PathAdminAcceptInvite = "/kefutest/accept_invite"
	// PathAdminAddWaiting: POST {"openid":"o1"} calls AddWaiting.
	PathAdminAddWaiting = "/kefutest/add_waiting"
	// PathAdminSession: GET ?openid=o1 answers SessionOf as
	// {"kf_account":"kf01@shop"}, "" for none.
	PathAdminSession = "/kefutest/session"
	// PathAdminAddRecord: POST {"openid":"o1","opercode":2002,"text":"hi",
	// "time":UNIX,"worker":"kf01@shop"} calls AddRecord; time 0 or absent is
	// now, text and worker may be absent.
	PathAdminAddRecord = "/kefutest/add_record"

	// PathAdminSay: POST {"openid":"o1","text":"hello"} calls Say: the user
	// writes to the account and the fake pushes it to the callback URL
	// (WithCallback; without it HTTP 400). The answer, after the service
	// answered or the tries ran out, says what the user saw:
	// {"errcode":0,"errmsg":"ok","msgid":N,"attempts":[{"status":200,
	// "seconds":0.002,"timed_out":false,"error":""}],"reply":{"msgtype":
	// "text","message":{...},"kf_account":"","encrypted":true} or null,
	// "unavailable":false,"error_shown":"","problem":""}: message is the
	// reply as Messages shows it, error_shown is UnavailableText when
	// unavailable, problem says why.
	PathAdminSay = "/kefutest/say"
	// PathAdminPush: POST {"openid":"o1","MsgType":"event","Event":
	// "subscribe","EventKey":"qrscene_7"} calls Push with the other keys as
	// callback.Message's fields by their Go names (WeChat's element names
	// match too, but for Location_X and Location_Y: LocationX, LocationY),
	// e.g. {"openid":"o1","MsgType":"image","PicUrl":"http://...","MediaId":
	// "m1"}. ToUserName, CreateTime and a message's MsgId are the fake's.
	// It answers as PathAdminSay.
	PathAdminPush = "/kefutest/push"
	// PathAdminConversation: GET ?openid=o1 answers Conversation as a JSON
	// array, oldest first, of {"kind","time"} and by kind: "user" with
	// "push" (the pushed message's non-empty fields by callback.Message's
	// names), "sent" and "passive" with "message", "transfer" with
	// "kf_account", "unavailable" with "problem", "template" with
	// "template" (as PathAdminTemplates shows one), "refused" with "message"
	// and "errcode".
	PathAdminConversation = "/kefutest/conversation"

	// PathAdminDailyQuota: POST {"path":PathSend,"n":100} calls
	// SetDailyQuota: past n calls a day (UTC+8) the path answers 45009; a
	// negative n removes its quota. path is one of the WeChat Path
	// constants (PathAdminCalls lists them).
	PathAdminDailyQuota = "/kefutest/daily_quota"
	// PathAdminRateLimit: POST {"path":PathSend,"per_minute":10} calls
	// SetRateLimit: past per_minute calls in a minute the path answers
	// 45011; a negative per_minute removes its limit.
	PathAdminRateLimit = "/kefutest/rate_limit"
	// PathAdminAddTemplate: POST {"template_id":"t1"} calls AddTemplate.
	PathAdminAddTemplate = "/kefutest/add_template"
	// PathAdminRefuseTemplates: POST {"openid":"o1"} calls
	// RefuseTemplates: template messages to o1 answer 43101.
	PathAdminRefuseTemplates = "/kefutest/refuse_templates"
	// PathAdminTemplates: GET ?openid=o1 answers Templates as a JSON array,
	// oldest first, [] if none: {"msgid":N,"time":UNIX,"message":{the
	// request body's keys: "touser","template_id","data",...}}.
	PathAdminTemplates = "/kefutest/templates"
)
