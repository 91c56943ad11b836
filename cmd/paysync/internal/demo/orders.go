// Package demo is the sample traffic of `paysync demo`: the Direct orders of
// a small Yerevan shop, created through paysync's HTTP API the way a
// manager's chatbot would, then paid, declined, refunded or left to expire
// on the sandbox checkouts of VPOS.am, ArCa, Idram and Ameriabank vPOS, and
// a summary of where each
// ended in paysync and in every sandbox CRM. It talks to paysync only over
// HTTP (API and webhooks) and to the providers only through their doubles,
// as a shop's customers and banks would.
package demo

import (
	"time"

	"github.com/paysync/paysync/core"
)

// Story is what happens to an order after the manager creates it.
type Story string

const (
	Pays          Story = "pays"           // the customer pays on the checkout
	Declined      Story = "declined"       // the bank declines the card
	PartRefund    Story = "part-refund"    // paid, then a third refunded
	FullRefund    Story = "full-refund"    // paid, then all of it refunded
	Expires       Story = "expires"        // the link is left until it expires
	ShortTransfer Story = "short-transfer" // a bank transfer for less than the order: a person decides
	Unpaid        Story = "unpaid"         // still awaiting payment when the demo ends
)

// Order is one sample Direct order and its story.
type Order struct {
	ID       string
	Customer core.Customer
	Items    []core.Item
	Address  string
	Provider string // vpos, arca, idram or ameria
	Story    Story
	// Says, when set, is what the customer first writes in Instagram
	// Direct: the order then carries their IGSID (Customer.ID), and paysync
	// sends the link and the confirmation in the thread.
	Says string
}

// Direct is the sample's Direct conversations: IGSID and opening message,
// by order, in the customers' own languages.
var direct = map[string]struct{ igsid, says string }{
	"IG-1001": {"17845000001001", "Hi! Is the red silk scarf still available?"},
	"IG-1003": {"17845000001003", "Բարև Ձեզ, սոյայի մոմերից երեք հատ կուզեի"},
	"IG-1004": {"17845000001004", "Здравствуйте! Льняное платье ещё есть в наличии?"},
}

// Amount is what the order costs, in minor units of AMD.
func (o Order) Amount() int64 {
	var n int64
	for _, it := range o.Items {
		n += it.Quantity * it.PriceMinor
	}
	return n
}

// Want is the status the order ends in.
func (o Order) Want() core.Status {
	switch o.Story {
	case Pays:
		return core.StatusPaid
	case Declined:
		return core.StatusFailed
	case PartRefund:
		return core.StatusPartiallyRefunded
	case FullRefund:
		return core.StatusRefunded
	case Expires:
		return core.StatusExpired
	case ShortTransfer:
		return core.StatusManualReview
	}
	return core.StatusPending
}

// ShortBy is how much less than the order the short transfer brings.
const ShortBy = 300000

func item(sku, name string, qty, price int64) []core.Item {
	return []core.Item{{SKU: sku, Name: name, Quantity: qty, PriceMinor: price}}
}

// Orders is the sample: twenty Direct orders from Armenian and Russian
// speaking customers, in AMD (three of them, IG-1001, IG-1003 and IG-1004,
// started in the sandbox's Instagram Direct, where paysync sends the link
// and the confirmation), paid through VPOS.am, ArCa, Idram (IG-1016:
// paysync's own pay page, the precheck and the confirmation) and Ameriabank
// vPOS (IG-1018: the buyer's return, a lookup, and a refund in the bank's
// back office that only reconcile can find).
func Orders() []Order {
	c := func(handle, name, phone string) core.Customer {
		return core.Customer{Handle: handle, Name: name, Phone: phone}
	}
	orders := []Order{
		{"IG-1001", c("anna.knits", "Anna Petrosyan", "+37491000101"), item("SCARF-RED", "Silk scarf, red", 1, 1500000), "Abovyan St 12, apt 5", "vpos", Pays, ""},
		{"IG-1002", c("aram_style", "Aram Hakobyan", "091 000 102"), item("BAG-BLK", "Leather bag", 1, 3200000), "Komitas Ave 40", "vpos", Pays, ""},
		{"IG-1003", c("lilit.home", "Լիլիթ Սարգսյան", "+37477000103"), item("CANDLE-3", "Soy candle", 3, 450000), "Mashtots Ave 7", "arca", Pays, ""},
		{"IG-1004", c("masha.smirnova", "Мария Смирнова", "+79161000104"), item("DRESS-LIN", "Льняное платье", 1, 2800000), "Tumanyan St 22", "vpos", Pays, ""},
		{"IG-1005", c("davit.m", "Davit Grigoryan", "+37493000105"), item("MUG-01", "Ceramic mug", 2, 600000), "Baghramyan Ave 3", "vpos", Declined, ""},
		{"IG-1006", c("olga_kuz", "Ольга Кузнецова", "+37499000106"), item("RING-SLV", "Silver ring", 1, 1800000), "Arami St 15", "arca", Pays, ""},
		{"IG-1007", c("narek.photo", "Narek Harutyunyan", "+37494000107"), item("PRINT-SET", "Photo prints, set of 6", 1, 2100000), "Sayat-Nova Ave 9", "vpos", PartRefund, ""},
		{"IG-1008", c("tatev.bakes", "Tatevik Mkrtchyan", "+37441000108"), item("GATA-BOX", "Gata gift box", 2, 550000), "Nalbandyan St 30", "arca", Expires, ""},
		{"IG-1009", c("dima.petrov", "Дмитрий Петров", "+37455000109"), item("TEE-ARM", "T-shirt «Ararat»", 2, 750000), "Pushkin St 4", "vpos", Pays, ""},
		{"IG-1010", c("mane.art", "Mane Avetisyan", "+37491000110"), item("PRINT-A2", "Art print A2", 1, 1800000), "Isahakyan St 18", "vpos", ShortTransfer, ""},
		{"IG-1011", c("gor.v", "Գոռ Վարդանյան", "+37477000111"), item("CAP-BLU", "Wool cap", 1, 700000), "Kievyan St 11", "arca", Declined, ""},
		{"IG-1012", c("ani.karapetyan", "Ani Karapetyan", "+37498000112"), item("EARR-GLD", "Gold earrings", 1, 4500000), "Argishti St 6", "vpos", FullRefund, ""},
		{"IG-1013", c("sergey.vl", "Сергей Волков", "+79031000113"), item("BELT-BRN", "Ремень кожаный", 1, 1200000), "Teryan St 50", "vpos", Expires, ""},
		{"IG-1014", c("hayk_s", "Hayk Stepanyan", "+37493000114"), item("SOCKS-5", "Wool socks, 5 pairs", 1, 500000), "Charents St 1", "arca", Pays, ""},
		{"IG-1015", c("sona.kh", "Sona Khachatryan", "+37491000115"), item("CARPET-S", "Small carpet", 1, 6000000), "Zakyan St 2", "arca", PartRefund, ""},
		{"IG-1016", c("elena.flowers", "Елена Соколова", "+37444000116"), item("VASE-CER", "Ceramic vase", 1, 1350000), "Saryan St 25", "idram", Pays, ""},
		{"IG-1017", c("armen.sahakyan", "Armen Sahakyan", "+37455000117"), item("WALLET", "Leather wallet", 1, 950000), "Vardanants St 8", "vpos", Unpaid, ""},
		{"IG-1018", c("nune.design", "Նունե Աբրահամյան", "+37499000118"), item("PILLOW", "Embroidered pillow", 2, 900000), "Khanjyan St 21", "ameria", PartRefund, ""},
		{"IG-1019", c("ivan.morozov", "Иван Морозов", "+37494000119"), item("COGNAC-GL", "Cognac glasses, pair", 1, 1100000), "Marshal Baghramyan Ave 50", "arca", Expires, ""},
		{"IG-1020", c("karine.jewelry", "Karine Hovhannisyan", "+37441000120"), item("NECK-PRL", "Pearl necklace", 1, 5200000), "Amiryan St 13", "vpos", Pays, ""},
	}
	for i := range orders {
		if d, ok := direct[orders[i].ID]; ok {
			orders[i].Customer.ID, orders[i].Says = d.igsid, d.says
		}
	}
	return orders
}

// timing spreads the sample over about a minute; Options.Scale shrinks it.
const (
	createEvery = 2400 * time.Millisecond // between two orders
	actAfter    = 4 * time.Second         // from the link to the customer's payment
	refundAfter = 5 * time.Second         // from the payment to the refund
	// ExpiresIn is the payment window of the orders left to expire when the
	// demo runs at full length.
	ExpiresIn = 15 * time.Second
)
