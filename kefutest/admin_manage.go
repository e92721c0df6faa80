package kefutest

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
)

// The admin API's media, customer-service accounts, sessions and records.

// mediaReq is the body of PathAdminAddMedia.
type mediaReq struct {
	Kind    MediaKind `json:"kind"`
	MediaID string    `json:"media_id"`
}

func (*mediaReq) want() string { return `{"kind":"image","media_id":"m1"}` }

func (r *mediaReq) check() string {
	if !slices.Contains(allMediaKinds, r.Kind) {
		kinds := make([]string, len(allMediaKinds))
		for i, k := range allMediaKinds {
			kinds[i] = string(k)
		}
		return "unknown media kind: want one of " + strings.Join(kinds, ", ")
	}
	return idProblem("media_id", r.MediaID, r.want())
}

// adminAddMedia answers PathAdminAddMedia: AddMedia.
func (s *Server) adminAddMedia(req *mediaReq) reply {
	s.AddMedia(req.Kind, req.MediaID)
	return okReply()
}

// adminUploads answers PathAdminUploads: every Upload, oldest first (then
// by id).
func (s *Server) adminUploads() reply {
	type entry struct {
		ID       string `json:"id"`
		Path     string `json:"path"`
		Kind     string `json:"kind"`
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256"`
		Created  int64  `json:"created"`
		at       time.Time
	}
	s.mu.Lock()
	list := make([]entry, 0, len(s.mg.uploads))
	for id, u := range s.mg.uploads {
		list = append(list, entry{id, u.Path, u.Kind, u.Filename, u.Size, hex.EncodeToString(u.SHA256[:]), u.Created.Unix(), u.Created})
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b entry) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.ID, b.ID)) })
	return jsonReply(list)
}

// kfReq is the body of PathAdminAcceptInvite, and the start of the other
// bodies that name a customer-service account.
type kfReq struct {
	KfAccount string `json:"kf_account"`
}

func (*kfReq) want() string    { return `{"kf_account":"kf01@shop"}` }
func (r *kfReq) check() string { return r.problem(r.want()) }

// problem says what is wrong with the kf_account: missing, too long, or not
// prefix@account.
func (r *kfReq) problem(want string) string {
	if p := idProblem("kf_account", r.KfAccount, want); p != "" {
		return p
	}
	if err := kefu.ValidateKfAccount(r.KfAccount); err != nil {
		return "kf_account " + ruleOf(err)
	}
	return ""
}

// addAccountReq is the body of PathAdminAddAccount.
type addAccountReq struct {
	kfReq
	Nickname string `json:"nickname"`
}

func (*addAccountReq) want() string { return `{"kf_account":"kf01@shop","nickname":"Alice"}` }

func (r *addAccountReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	if !validNickname(r.Nickname) {
		return fmt.Sprintf("nickname must be 1 to %d characters: want %s", maxNickname, r.want())
	}
	return ""
}

// adminAddAccount answers PathAdminAddAccount: AddAccount, up to WeChat's
// 100 accounts.
func (s *Server) adminAddAccount(req *addAccountReq) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mg.accounts[req.KfAccount]; !ok && len(s.mg.accounts) >= maxAccounts {
		return badRequest(fmt.Sprintf("%d accounts already: WeChat's limit", maxAccounts))
	}
	s.account(req.KfAccount, req.Nickname)
	return okReply()
}

// onlineReq is the body of PathAdminSetOnline.
type onlineReq struct {
	kfReq
	Online *bool `json:"online"`
}

func (*onlineReq) want() string { return `{"kf_account":"kf01@shop","online":true}` }

func (r *onlineReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	if r.Online == nil {
		return "online missing: want " + r.want()
	}
	return ""
}

// adminSetOnline answers PathAdminSetOnline: SetOnline.
func (s *Server) adminSetOnline(req *onlineReq) reply {
	if !s.setOnline(req.KfAccount, *req.Online) {
		return badRequest("unknown kf_account")
	}
	return okReply()
}

// adminAcceptInvite answers PathAdminAcceptInvite: AcceptInvite.
func (s *Server) adminAcceptInvite(req *kfReq) reply {
	if !s.acceptInvite(req.KfAccount) {
		return badRequest("no pending invitation for that kf_account")
	}
	return okReply()
}

// adminAddWaiting answers PathAdminAddWaiting: AddWaiting.
func (s *Server) adminAddWaiting(req *userReq) reply {
	s.AddWaiting(req.OpenID)
	return okReply()
}

// adminSession answers PathAdminSession: SessionOf.
func (s *Server) adminSession(openID string) reply {
	kf, _ := s.SessionOf(openID)
	return jsonReply(struct {
		KfAccount string `json:"kf_account"`
	}{kf})
}

// recordReq is the body of PathAdminAddRecord.
type recordReq struct {
	OpenID   string        `json:"openid"`
	OperCode kefu.OperCode `json:"opercode"`
	Text     string        `json:"text"`
	Time     int64         `json:"time"`
	Worker   string        `json:"worker"`
}

func (*recordReq) want() string { return `{"openid":"o1","opercode":2002,"text":"hi"}` }

func (r *recordReq) check() string {
	switch {
	case r.OperCode == 0:
		return "opercode missing: want " + r.want()
	case r.Time < 0:
		return "negative time: want Unix seconds, or 0 for now"
	case len(r.Worker) > maxAdminOpenID:
		return fmt.Sprintf("worker longer than %d bytes", maxAdminOpenID)
	}
	return idProblem("openid", r.OpenID, r.want())
}

// adminAddRecord answers PathAdminAddRecord: AddRecord.
func (s *Server) adminAddRecord(req *recordReq) reply {
	rec := kefu.Record{OpenID: req.OpenID, OperCode: req.OperCode, Text: req.Text, Worker: req.Worker}
	if req.Time > 0 {
		rec.Time = time.Unix(req.Time, 0)
	}
	s.AddRecord(rec)
	return okReply()
}
