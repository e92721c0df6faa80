package kefutest

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kefu-go/kefu/callback"
)

// The pushes of the common messages and events, each a callback.Message
// that Push sends; and the XML WeChat writes for one.

// Say pushes a text message: the user openID wrote text to the account (a
// window of 5 messages in 48 hours opens). See Push for what happens.
func (s *Server) Say(openID, text string) (*PushResult, error) {
	if text == "" {
		return nil, errors.New("kefutest: Say: empty text")
	}
	return s.push(say(openID, text))
}

// say is the text message of Say.
func say(openID, text string) *callback.Message {
	return &callback.Message{FromUserName: openID, MsgType: callback.MsgTypeText, Content: text}
}

// PushImage pushes an image message: the user sent the picture at picURL,
// stored as media mediaID.
func (s *Server) PushImage(openID, picURL, mediaID string) (*PushResult, error) {
	return s.push(&callback.Message{FromUserName: openID, MsgType: callback.MsgTypeImage, PicURL: picURL, MediaID: mediaID})
}

// PushVoice pushes a voice message: media mediaID in format ("amr",
// "speex"...), with the speech recognised as recognition ("" when none).
func (s *Server) PushVoice(openID, mediaID, format, recognition string) (*PushResult, error) {
	return s.push(&callback.Message{FromUserName: openID, MsgType: callback.MsgTypeVoice, MediaID: mediaID,
		Format: format, Recognition: recognition})
}

// PushLocation pushes a location message: latitude (Location_X), longitude
// (Location_Y), the map's scale and the place's label.
func (s *Server) PushLocation(openID string, latitude, longitude float64, scale int, label string) (*PushResult, error) {
	return s.push(&callback.Message{FromUserName: openID, MsgType: callback.MsgTypeLocation,
		LocationX: latitude, LocationY: longitude, Scale: scale, Label: label})
}

// PushLink pushes a link message: the user shared the page at pageURL.
func (s *Server) PushLink(openID, title, description, pageURL string) (*PushResult, error) {
	return s.push(&callback.Message{FromUserName: openID, MsgType: callback.MsgTypeLink,
		Title: title, Description: description, URL: pageURL})
}

// PushMenuTap pushes a tap on an item of a msgmenu message the account sent:
// a text message carrying bizmsgmenuid menuID (kefu.MenuItem's ID), its
// content the item's text. It opens a menu-click window (3 messages in 1
// minute), not a user message's.
func (s *Server) PushMenuTap(openID, menuID, text string) (*PushResult, error) {
	if menuID == "" {
		return nil, errors.New("kefutest: PushMenuTap: empty menu id")
	}
	return s.push(menuTap(openID, menuID, text))
}

// menuTap is the text message a tap on msgmenu item menuID pushes.
func menuTap(openID, menuID, text string) *callback.Message {
	return &callback.Message{FromUserName: openID, MsgType: callback.MsgTypeText, Content: text, BizMsgMenuID: menuID}
}

// PushFollow pushes a subscribe event: the user followed the account (3
// messages in 1 minute), through the QR code of scene when scene is not ""
// (EventKey "qrscene_"+scene, and a Ticket).
func (s *Server) PushFollow(openID, scene string) (*PushResult, error) {
	return s.push(follow(openID, scene))
}

// follow is the subscribe event of PushFollow.
func follow(openID, scene string) *callback.Message {
	m := event(openID, callback.EventSubscribe)
	if scene != "" {
		m.EventKey, m.Ticket = "qrscene_"+scene, ticket(scene)
	}
	return m
}

// PushUnfollow pushes an unsubscribe event: the user stopped following the
// account, as Unfollow records it (its windows close).
func (s *Server) PushUnfollow(openID string) (*PushResult, error) {
	return s.push(event(openID, callback.EventUnsubscribe))
}

// PushScan pushes a SCAN event: a follower scanned the QR code of scene (3
// messages in 1 minute).
func (s *Server) PushScan(openID, scene string) (*PushResult, error) {
	return s.push(scan(openID, scene))
}

// scan is the SCAN event of PushScan.
func scan(openID, scene string) *callback.Message {
	m := event(openID, callback.EventScan)
	m.EventKey, m.Ticket = scene, ticket(scene)
	return m
}

// PushClick pushes a CLICK event: the user clicked the menu item whose key
// is key (3 messages in 1 minute).
func (s *Server) PushClick(openID, key string) (*PushResult, error) {
	return s.push(click(openID, key))
}

// click is the CLICK event of PushClick.
func click(openID, key string) *callback.Message {
	m := event(openID, callback.EventClick)
	m.EventKey = key
	return m
}

// PushKfCreateSession pushes a kf_create_session event: the
// customer-service account kfAccount took the user's session. It opens no
// window.
func (s *Server) PushKfCreateSession(openID, kfAccount string) (*PushResult, error) {
	m := event(openID, callback.EventKfCreateSession)
	m.KfAccount = kfAccount
	return s.push(m)
}

// PushKfCloseSession pushes a kf_close_session event: kfAccount closed the
// user's session. It opens no window.
func (s *Server) PushKfCloseSession(openID, kfAccount string) (*PushResult, error) {
	m := event(openID, callback.EventKfCloseSession)
	m.KfAccount = kfAccount
	return s.push(m)
}

// PushKfSwitchSession pushes a kf_switch_session event: the user's session
// went from the account from to the account to. It opens no window.
func (s *Server) PushKfSwitchSession(openID, from, to string) (*PushResult, error) {
	m := event(openID, callback.EventKfSwitchSession)
	m.FromKfAccount, m.ToKfAccount = from, to
	return s.push(m)
}

func event(openID, name string) *callback.Message {
	return &callback.Message{FromUserName: openID, MsgType: callback.MsgTypeEvent, Event: name}
}

// ticket is a QR code ticket for scene, stable like WeChat's.
func ticket(scene string) string { return "gQ" + originalID(scene)[3:] }

// pushField is an element of a pushed message's XML after MsgType: its
// name, its value in m ("" to leave it out), and whether it is text (in
// CDATA) rather than a number. In WeChat's order; ScanCodeInfo and MsgId
// are written apart.
type pushField struct {
	name string
	text bool
	get  func(m *callback.Message) string
}

var pushFields = []pushField{
	{"Content", true, func(m *callback.Message) string { return m.Content }},
	{"bizmsgmenuid", true, func(m *callback.Message) string { return m.BizMsgMenuID }},
	{"MsgDataId", true, func(m *callback.Message) string { return m.MsgDataID }},
	{"Idx", false, func(m *callback.Message) string { return itoaOrNone(int64(m.Idx)) }},
	{"PicUrl", true, func(m *callback.Message) string { return m.PicURL }},
	{"MediaId", true, func(m *callback.Message) string { return m.MediaID }},
	{"Format", true, func(m *callback.Message) string { return m.Format }},
	{"Recognition", true, func(m *callback.Message) string { return m.Recognition }},
	{"ThumbMediaId", true, func(m *callback.Message) string { return m.ThumbMediaID }},
	{"Location_X", false, func(m *callback.Message) string { return location(m, m.LocationX) }},
	{"Location_Y", false, func(m *callback.Message) string { return location(m, m.LocationY) }},
	{"Scale", false, func(m *callback.Message) string { return location(m, float64(m.Scale)) }},
	{"Label", true, func(m *callback.Message) string { return m.Label }},
	{"Title", true, func(m *callback.Message) string { return m.Title }},
	{"Description", true, func(m *callback.Message) string { return m.Description }},
	{"Url", true, func(m *callback.Message) string { return m.URL }},
	{"AppId", true, func(m *callback.Message) string { return m.AppID }},
	{"PagePath", true, func(m *callback.Message) string { return m.PagePath }},
	{"ThumbUrl", true, func(m *callback.Message) string { return m.ThumbURL }},
	{"Event", true, func(m *callback.Message) string { return m.Event }},
	{"EventKey", true, func(m *callback.Message) string { return m.EventKey }},
	{"Ticket", true, func(m *callback.Message) string { return m.Ticket }},
	{"Latitude", false, func(m *callback.Message) string { return ftoaOrNone(m.Latitude) }},
	{"Longitude", false, func(m *callback.Message) string { return ftoaOrNone(m.Longitude) }},
	{"Precision", false, func(m *callback.Message) string { return ftoaOrNone(m.Precision) }},
	{"MenuId", true, func(m *callback.Message) string { return m.MenuID }},
	{"KfAccount", true, func(m *callback.Message) string { return m.KfAccount }},
	{"FromKfAccount", true, func(m *callback.Message) string { return m.FromKfAccount }},
	{"ToKfAccount", true, func(m *callback.Message) string { return m.ToKfAccount }},
	{"Status", true, func(m *callback.Message) string { return m.Status }},
	{"SessionFrom", true, func(m *callback.Message) string { return m.SessionFrom }},
}

// appendPushXML appends m as the XML WeChat POSTs (before encryption): the
// common fields, then those m sets, then MsgId for a message (MsgID for an
// event that has one, as TEMPLATESENDJOBFINISH).
func appendPushXML(b []byte, m *callback.Message) []byte {
	b = append(b, "<xml>"...)
	b = appendCDATA(b, "ToUserName", m.ToUserName)
	b = appendCDATA(b, "FromUserName", m.FromUserName)
	b = appendNumber(b, "CreateTime", strconv.FormatInt(m.CreateTime, 10))
	b = appendCDATA(b, "MsgType", m.MsgType)
	for _, f := range pushFields {
		v := f.get(m)
		switch {
		case v == "":
		case f.text:
			b = appendCDATA(b, f.name, v)
		default:
			b = appendNumber(b, f.name, v)
		}
	}
	if m.ScanType != "" || m.ScanResult != "" {
		b = append(b, "<ScanCodeInfo>"...)
		b = appendCDATA(b, "ScanType", m.ScanType)
		b = appendCDATA(b, "ScanResult", m.ScanResult)
		b = append(b, "</ScanCodeInfo>"...)
	}
	switch {
	case m.MsgType != callback.MsgTypeEvent:
		b = appendNumber(b, "MsgId", strconv.FormatInt(m.MsgID, 10))
	case m.MsgID != 0:
		b = appendNumber(b, "MsgID", strconv.FormatInt(m.MsgID, 10))
	}
	return append(b, "</xml>"...)
}

// location is a location message's number v, always written; other
// messages leave it out when zero.
func location(m *callback.Message, v float64) string {
	if m.MsgType == callback.MsgTypeLocation {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ftoaOrNone(v)
}

func itoaOrNone(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func ftoaOrNone(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// appendCDATA appends <name><![CDATA[v]]></name>, a "]]>" in v split across
// two sections.
func appendCDATA(b []byte, name, v string) []byte {
	v = strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>")
	return append(b, "<"+name+"><![CDATA["+v+"]]></"+name+">"...)
}

func appendNumber(b []byte, name, v string) []byte {
	return append(b, "<"+name+">"+v+"</"+name+">"...)
}
