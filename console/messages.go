package console

import "github.com/paysync/paysync/present"

func init() { present.Register(messagesEN, messagesRU, messagesHY) }

var messagesEN = map[string]string{
	"nav.label": "Console", "nav.orders": "Orders", "nav.review": "Needs review", "nav.outbox": "CRM delivery",
	"nav.language": "Language", "nav.signed_in": "Signed in as %s", "nav.logout": "Log out",
	"footer.zone": "Times are in %s.",

	"login.title":     "Log in to paysync",
	"login.intro":     "Enter the admin token (PAYSYNC_ADMIN_TOKEN) to see orders, settle payments and watch CRM delivery.",
	"login.token":     "Admin token",
	"login.name":      "Your name",
	"login.name_hint": "Optional: the journal records it when you settle a payment.",
	"login.submit":    "Log in",
	"login.wrong":     "That is not the admin token. Check PAYSYNC_ADMIN_TOKEN and try again.",
	"login.expired":   "The login form expired. It has been reloaded: please try again.",
	"login.slow_down": "Too many wrong tokens. Wait a few seconds and try again.",

	"orders.title": "Orders", "orders.search": "Search", "orders.search_hint": "Order id, @handle or phone",
	"orders.status": "Status", "orders.any_status": "Any status", "orders.find": "Find", "orders.clear": "Show all",
	"orders.col.order": "Order", "orders.col.customer": "Customer", "orders.col.amount": "Amount",
	"orders.col.status": "Status", "orders.col.created": "Created", "orders.next": "Older orders →",
	"orders.none": "No orders yet.", "orders.none_found": "No order matches. Try the order id, the Instagram handle or the last digits of the phone.",

	"order.title": "Order %s", "order.reason": "Why", "order.orphan": "A payment arrived for an order paysync did not know; a person must settle it.",
	"order.customer": "Customer", "order.name": "Name", "order.handle": "Instagram", "order.phone": "Phone", "order.email": "Email",
	"order.payment": "Payment", "order.amount": "Amount", "order.refunded": "Refunded", "order.created": "Created",
	"order.paid_at": "Paid", "order.expires": "Link expires", "order.provider": "Provider", "order.payment_link": "Payment link",
	"order.open_link": "Open the checkout page", "order.items": "Items", "order.item": "Item", "order.qty": "Qty",
	"order.price": "Price", "order.total": "Total", "order.no_items": "No items listed.",
	"order.crm": "CRMs", "order.crm.connector": "CRM", "order.crm.state": "State", "order.crm.attempts": "Attempts",
	"order.crm.record": "Record", "order.crm.open": "Open in %s", "order.crm.synced": "shows: %s",
	"order.crm.none": "No CRM is connected.", "order.timeline": "What happened, newest first",
	"order.recorded": "Recorded", "order.payload": "Show the raw request",

	"review.title": "Payments that need a person", "review.settle": "Settle this payment",
	"review.intro": "paysync could not settle these by itself: the amount differed, the order was unknown or had expired. Check the money in the bank's or provider's back office, then mark the order paid or failed; your note and name go into the journal.",
	"review.none":  "Nothing needs a person right now.", "review.note": "Note (why)", "review.note_hint": "e.g. the rest was paid in cash",
	"review.paid": "Mark as paid", "review.failed": "Mark as failed",

	"outbox.title":         "Delivery to CRMs",
	"outbox.intro":         "Each order change waits here until its CRM has it. A CRM that is down or refusing never loses an order: it is retried, and what needs a fix waits below.",
	"outbox.col.connector": "CRM", "outbox.col.state": "State", "outbox.col.pending": "Waiting", "outbox.col.oldest": "Oldest waiting",
	"outbox.col.dead": "Stopped", "outbox.col.delivered": "Delivered", "outbox.reason": "Reason",
	"outbox.none": "No CRM is connected.", "outbox.dead": "Stopped deliveries",
	"outbox.dead_intro": "The CRM refused these orders, or they kept failing for days. Fix what the reason says, then retry.",
	"outbox.col.order":  "Order", "outbox.col.attempts": "Attempts", "outbox.col.reason": "Reason and fix", "outbox.col.when": "Stopped at",
	"outbox.retry": "Retry", "outbox.retry_all": "Retry all", "outbox.no_dead": "No stopped deliveries.",

	"payload.title": "Raw request of order %s",
	"payload.intro": "As it arrived, with signatures, tokens and keys replaced by [redacted].",
	"payload.none":  "Nothing was kept for this entry.",

	"done.retried": "Requeued: the CRM gets it again now.", "done.retried_all": "Every stopped delivery is requeued.",
	"done.settled_paid": "Marked as paid; the journal has your note.", "done.settled_failed": "Marked as failed; the journal has your note.",

	"error.title": "Something is wrong", "error.not_found": "There is no such page or order.",
	"error.closed":   "The console is closed: set PAYSYNC_ADMIN_TOKEN and restart paysync.",
	"error.csrf":     "The form expired or came from another site. Reload the page and try again.",
	"error.session":  "Your session ended. Log in again.",
	"error.internal": "paysync could not do that; the log says why. Try again in a moment.",
	"error.message":  "%s", "error.decision": "Choose paid or failed.", "error.note": "Write a note: the journal keeps why the payment was settled.",
	"error.back": "Back to the orders",
}

var messagesRU = map[string]string{
	"nav.label": "Консоль", "nav.orders": "Заказы", "nav.review": "На проверке", "nav.outbox": "Передача в CRM",
	"nav.language": "Язык", "nav.signed_in": "Вы вошли как %s", "nav.logout": "Выйти",
	"footer.zone": "Время указано в поясе %s.",

	"login.title":     "Вход в paysync",
	"login.intro":     "Введите токен администратора (PAYSYNC_ADMIN_TOKEN), чтобы видеть заказы, решать спорные оплаты и следить за передачей в CRM.",
	"login.token":     "Токен администратора",
	"login.name":      "Ваше имя",
	"login.name_hint": "Необязательно: журнал запишет его, когда вы решите спорную оплату.",
	"login.submit":    "Войти",
	"login.wrong":     "Это не токен администратора. Проверьте PAYSYNC_ADMIN_TOKEN и попробуйте снова.",
	"login.expired":   "Форма входа устарела и обновлена: попробуйте ещё раз.",
	"login.slow_down": "Слишком много неверных токенов. Подождите несколько секунд и попробуйте снова.",

	"orders.title": "Заказы", "orders.search": "Поиск", "orders.search_hint": "Номер заказа, @ник или телефон",
	"orders.status": "Статус", "orders.any_status": "Любой статус", "orders.find": "Найти", "orders.clear": "Показать все",
	"orders.col.order": "Заказ", "orders.col.customer": "Покупатель", "orders.col.amount": "Сумма",
	"orders.col.status": "Статус", "orders.col.created": "Создан", "orders.next": "Более старые заказы →",
	"orders.none": "Заказов пока нет.", "orders.none_found": "Ничего не найдено. Попробуйте номер заказа, ник в Instagram или последние цифры телефона.",

	"order.title": "Заказ %s", "order.reason": "Причина", "order.orphan": "Пришла оплата за заказ, которого paysync не знал; решение за человеком.",
	"order.customer": "Покупатель", "order.name": "Имя", "order.handle": "Instagram", "order.phone": "Телефон", "order.email": "Почта",
	"order.payment": "Оплата", "order.amount": "Сумма", "order.refunded": "Возвращено", "order.created": "Создан",
	"order.paid_at": "Оплачен", "order.expires": "Ссылка действует до", "order.provider": "Платёжная система", "order.payment_link": "Ссылка на оплату",
	"order.open_link": "Открыть страницу оплаты", "order.items": "Товары", "order.item": "Товар", "order.qty": "Кол-во",
	"order.price": "Цена", "order.total": "Итого", "order.no_items": "Товары не указаны.",
	"order.crm": "CRM", "order.crm.connector": "CRM", "order.crm.state": "Состояние", "order.crm.attempts": "Попытки",
	"order.crm.record": "Запись", "order.crm.open": "Открыть в %s", "order.crm.synced": "там: %s",
	"order.crm.none": "CRM не подключена.", "order.timeline": "Что произошло (сначала новое)",
	"order.recorded": "В журнале", "order.payload": "Показать исходный запрос",

	"review.title": "Оплаты, которые ждут решения", "review.settle": "Решить по этой оплате",
	"review.intro": "paysync не смог решить сам: сумма не совпала, заказ был неизвестен или истёк. Проверьте деньги в кабинете банка или платёжной системы, затем отметьте заказ оплаченным или неоплаченным; ваша заметка и имя попадут в журнал.",
	"review.none":  "Сейчас ничего не ждёт решения.", "review.note": "Заметка (почему)", "review.note_hint": "например, остаток оплачен наличными",
	"review.paid": "Отметить оплаченным", "review.failed": "Отметить неоплаченным",

	"outbox.title":         "Передача в CRM",
	"outbox.intro":         "Каждое изменение заказа ждёт здесь, пока CRM его не примет. Если CRM недоступна или отказывает, заказ не теряется: передача повторяется, а то, что нужно исправить, ждёт ниже.",
	"outbox.col.connector": "CRM", "outbox.col.state": "Состояние", "outbox.col.pending": "В очереди", "outbox.col.oldest": "Ждёт дольше всех",
	"outbox.col.dead": "Остановлено", "outbox.col.delivered": "Передано", "outbox.reason": "Причина",
	"outbox.none": "CRM не подключена.", "outbox.dead": "Остановленные передачи",
	"outbox.dead_intro": "CRM отказалась принять эти заказы, или передача не удавалась несколько дней. Исправьте то, что сказано в причине, и повторите.",
	"outbox.col.order":  "Заказ", "outbox.col.attempts": "Попытки", "outbox.col.reason": "Причина и что сделать", "outbox.col.when": "Остановлено",
	"outbox.retry": "Повторить", "outbox.retry_all": "Повторить все", "outbox.no_dead": "Остановленных передач нет.",

	"payload.title": "Исходный запрос заказа %s",
	"payload.intro": "Как пришёл, только подписи, токены и ключи заменены на [redacted].",
	"payload.none":  "Для этой записи ничего не сохранено.",

	"done.retried": "Снова в очереди: CRM получит заказ сейчас.", "done.retried_all": "Все остановленные передачи снова в очереди.",
	"done.settled_paid": "Отмечен оплаченным; заметка в журнале.", "done.settled_failed": "Отмечен неоплаченным; заметка в журнале.",

	"error.title": "Что-то не так", "error.not_found": "Такой страницы или заказа нет.",
	"error.closed":   "Консоль закрыта: задайте PAYSYNC_ADMIN_TOKEN и перезапустите paysync.",
	"error.csrf":     "Форма устарела или пришла с другого сайта. Обновите страницу и попробуйте снова.",
	"error.session":  "Сеанс закончился. Войдите снова.",
	"error.internal": "paysync не смог это сделать; причина в журнале работы. Попробуйте через минуту.",
	"error.message":  "%s", "error.decision": "Выберите: оплачен или нет.", "error.note": "Напишите заметку: журнал хранит, почему решена оплата.",
	"error.back": "К заказам",
}

var messagesHY = map[string]string{
	"nav.label": "Վահանակ", "nav.orders": "Պատվերներ", "nav.review": "Ստուգման են", "nav.outbox": "Փոխանցում CRM",
	"nav.language": "Լեզու", "nav.signed_in": "Մուտք եք գործել որպես %s", "nav.logout": "Ելք",
	"footer.zone": "Ժամերը՝ %s գոտով։",

	"login.title":     "Մուտք paysync",
	"login.intro":     "Մուտքագրեք ադմինիստրատորի թոքենը (PAYSYNC_ADMIN_TOKEN)՝ պատվերները տեսնելու, վճարումները որոշելու և CRM փոխանցմանը հետևելու համար։",
	"login.token":     "Ադմինիստրատորի թոքեն",
	"login.name":      "Ձեր անունը",
	"login.name_hint": "Ըստ ցանկության. մատյանը այն կգրանցի, երբ որոշեք վճարումը։",
	"login.submit":    "Մուտք",
	"login.wrong":     "Սա ադմինիստրատորի թոքենը չէ։ Ստուգեք PAYSYNC_ADMIN_TOKEN-ը և նորից փորձեք։",
	"login.expired":   "Մուտքի ձևը հնացել էր և թարմացվել է. նորից փորձեք։",
	"login.slow_down": "Չափազանց շատ սխալ թոքեններ։ Սպասեք մի քանի վայրկյան և նորից փորձեք։",

	"orders.title": "Պատվերներ", "orders.search": "Որոնում", "orders.search_hint": "Պատվերի համար, @անուն կամ հեռախոս",
	"orders.status": "Կարգավիճակ", "orders.any_status": "Ցանկացած կարգավիճակ", "orders.find": "Գտնել", "orders.clear": "Ցույց տալ բոլորը",
	"orders.col.order": "Պատվեր", "orders.col.customer": "Գնորդ", "orders.col.amount": "Գումար",
	"orders.col.status": "Կարգավիճակ", "orders.col.created": "Ստեղծված", "orders.next": "Ավելի հին պատվերներ →",
	"orders.none": "Պատվերներ դեռ չկան։", "orders.none_found": "Ոչինչ չի գտնվել։ Փորձեք պատվերի համարը, Instagram-ի անունը կամ հեռախոսի վերջին թվերը։",

	"order.title": "Պատվեր %s", "order.reason": "Պատճառ", "order.orphan": "Վճարում է եկել պատվերի համար, որը paysync-ը չգիտեր. որոշում է մարդը։",
	"order.customer": "Գնորդ", "order.name": "Անուն", "order.handle": "Instagram", "order.phone": "Հեռախոս", "order.email": "Էլ. փոստ",
	"order.payment": "Վճարում", "order.amount": "Գումար", "order.refunded": "Վերադարձված", "order.created": "Ստեղծված",
	"order.paid_at": "Վճարված", "order.expires": "Հղումը գործում է մինչև", "order.provider": "Վճարային համակարգ", "order.payment_link": "Վճարման հղում",
	"order.open_link": "Բացել վճարման էջը", "order.items": "Ապրանքներ", "order.item": "Ապրանք", "order.qty": "Քանակ",
	"order.price": "Գին", "order.total": "Ընդամենը", "order.no_items": "Ապրանքներ նշված չեն։",
	"order.crm": "CRM", "order.crm.connector": "CRM", "order.crm.state": "Վիճակ", "order.crm.attempts": "Փորձեր",
	"order.crm.record": "Գրառում", "order.crm.open": "Բացել %s-ում", "order.crm.synced": "այնտեղ՝ %s",
	"order.crm.none": "CRM միացված չէ։", "order.timeline": "Ինչ է տեղի ունեցել (նորերը՝ վերևում)",
	"order.recorded": "Մատյանում", "order.payload": "Ցույց տալ սկզբնական հարցումը",

	"review.title": "Վճարումներ, որոնք սպասում են որոշման", "review.settle": "Որոշել այս վճարումը",
	"review.intro": "paysync-ը ինքնուրույն չկարողացավ որոշել. գումարը չէր համընկնում, պատվերն անհայտ էր կամ ժամկետանց։ Ստուգեք գումարը բանկի կամ վճարային համակարգի անձնական էջում, ապա նշեք պատվերը վճարված կամ չվճարված. ձեր նշումը և անունը կգրանցվեն մատյանում։",
	"review.none":  "Այս պահին ոչինչ որոշման չի սպասում։", "review.note": "Նշում (ինչու)", "review.note_hint": "օրինակ՝ մնացածը վճարվել է կանխիկ",
	"review.paid": "Նշել վճարված", "review.failed": "Նշել չվճարված",

	"outbox.title":         "Փոխանցում CRM-ներին",
	"outbox.intro":         "Պատվերի յուրաքանչյուր փոփոխություն սպասում է այստեղ, մինչև CRM-ը այն ընդունի։ Եթե CRM-ն անհասանելի է կամ մերժում է, պատվերը չի կորչում. փոխանցումը կրկնվում է, իսկ այն, ինչ պետք է ուղղել, սպասում է ներքևում։",
	"outbox.col.connector": "CRM", "outbox.col.state": "Վիճակ", "outbox.col.pending": "Հերթում", "outbox.col.oldest": "Ամենաերկար սպասողը",
	"outbox.col.dead": "Կանգնեցված", "outbox.col.delivered": "Փոխանցված", "outbox.reason": "Պատճառ",
	"outbox.none": "CRM միացված չէ։", "outbox.dead": "Կանգնեցված փոխանցումներ",
	"outbox.dead_intro": "CRM-ը մերժել է այս պատվերները, կամ փոխանցումը մի քանի օր չի հաջողվել։ Ուղղեք այն, ինչ գրված է պատճառում, և կրկնեք։",
	"outbox.col.order":  "Պատվեր", "outbox.col.attempts": "Փորձեր", "outbox.col.reason": "Պատճառ և ինչ անել", "outbox.col.when": "Կանգնեցված է",
	"outbox.retry": "Կրկնել", "outbox.retry_all": "Կրկնել բոլորը", "outbox.no_dead": "Կանգնեցված փոխանցումներ չկան։",

	"payload.title": "%s պատվերի սկզբնական հարցումը",
	"payload.intro": "Ինչպես եկել է, միայն ստորագրությունները, թոքենները և բանալիները փոխարինված են [redacted]-ով։",
	"payload.none":  "Այս գրառման համար ոչինչ չի պահպանվել։",

	"done.retried": "Կրկին հերթում է. CRM-ը այն կստանա հիմա։", "done.retried_all": "Բոլոր կանգնեցված փոխանցումները կրկին հերթում են։",
	"done.settled_paid": "Նշված է վճարված. նշումը մատյանում է։", "done.settled_failed": "Նշված է չվճարված. նշումը մատյանում է։",

	"error.title": "Ինչ-որ բան այն չէ", "error.not_found": "Այդպիսի էջ կամ պատվեր չկա։",
	"error.closed":   "Վահանակը փակ է. սահմանեք PAYSYNC_ADMIN_TOKEN-ը և վերագործարկեք paysync-ը։",
	"error.csrf":     "Ձևը հնացել է կամ եկել է այլ կայքից։ Թարմացրեք էջը և նորից փորձեք։",
	"error.session":  "Սեանսն ավարտվել է։ Կրկին մուտք գործեք։",
	"error.internal": "paysync-ը չկարողացավ դա անել. պատճառը աշխատանքային մատյանում է։ Փորձեք մի փոքր ուշ։",
	"error.message":  "%s", "error.decision": "Ընտրեք՝ վճարված, թե ոչ։", "error.note": "Գրեք նշում. մատյանը պահում է, թե ինչու է որոշվել վճարումը։",
	"error.back": "Վերադառնալ պատվերներին",
}
