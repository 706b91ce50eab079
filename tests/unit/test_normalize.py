"""Text normalization: Unicode and whitespace, HTML e-mails, quoted history, signatures, budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.normalize import ELLIPSIS, NormalizedText, normalize_text, truncate_text


def email(text: str) -> str:
    return normalize_text(text, channel="email").text


# --- Unicode and whitespace -----------------------------------------------------------------


def test_nfkc_folds_full_width_letters_digits_and_punctuation() -> None:
    assert normalize_text("ｉＰｈｏｎｅ　１５，还没到！").text == "iPhone 15,还没到!"


def test_nfkc_keeps_ideographic_full_stop() -> None:
    assert normalize_text("好的。谢谢").text == "好的。谢谢"


def test_control_and_invisible_characters_are_removed_but_tab_becomes_space() -> None:
    raw = "\ufeffRe\u200bfund\x00 now\x07\tplease\u202e"
    assert normalize_text(raw).text == "Refund now please"


def test_emoji_joiners_survive() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert normalize_text(f"thanks {family}").text == f"thanks {family}"


def test_whitespace_runs_collapse_and_blank_lines_are_limited() -> None:
    raw = "  Hello   there \t\t friend \r\n\r\n\r\n\r\n  second   line \n\n\n\nthird  "
    assert normalize_text(raw).text == "Hello there friend\n\nsecond line\n\nthird"


def test_line_break_variants_become_newlines() -> None:
    assert normalize_text("a\rb\u2028c\x85d").text == "a\nb\nc\nd"


def test_html_entities_in_plain_text_are_decoded() -> None:
    assert normalize_text("Bags &amp; seats &gt; 2 hours, AT&T ok").text == (
        "Bags & seats > 2 hours, AT&T ok"
    )


def test_html_is_left_alone_outside_email() -> None:
    assert normalize_text("<p>Hi</p><p>there</p>").text == "<p>Hi</p><p>there</p>"


def test_empty_and_blank_input() -> None:
    assert normalize_text("") == NormalizedText("", False, 0)
    assert normalize_text(" \n\t\u200b ", channel="email") == NormalizedText("", False, 0)


# --- HTML e-mails ---------------------------------------------------------------------------

GMAIL_HTML = (
    '<html><body><div dir="ltr">Hi,<br><br>The blender arrived <b>broken</b>. '
    "I want a refund.<br><br>Best regards,<br>Tom</div><br>"
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 5 Jan 2026 at 09:18, '
    'Shop &lt;<a href="mailto:care@shop.com">care@shop.com</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote">Your order has shipped.</blockquote></div></body></html>'
)

OUTLOOK_HTML = (
    "<html><head><style>p{margin:0}</style></head><body><p>Where is my invoice?</p>"
    '<p>&nbsp;</p><hr><div id="divRplyFwdMsg"><font face="Calibri"><b>From:</b> Billing '
    "&lt;billing@shop.com&gt;<br><b>Sent:</b> Monday, January 5, 2026 9:18 AM<br>"
    "<b>To:</b> Tom<br><b>Subject:</b> Invoice</font></div><div>Your invoice is attached.</div>"
    "</body></html>"
)


def test_html_email_becomes_text_without_quote_and_signature() -> None:
    assert email(GMAIL_HTML) == "Hi,\n\nThe blender arrived broken. I want a refund."


def test_outlook_html_email_is_cut_at_the_header_block() -> None:
    assert email(OUTLOOK_HTML) == "Where is my invoice?"


def test_html_fragment_with_paragraphs_is_converted() -> None:
    assert email("<p>First line</p><p>Second &amp; last</p>") == "First line\n\nSecond & last"


def test_one_stray_tag_does_not_make_html() -> None:
    # Rendering as HTML would join the lines; a single <b> is taken as plain text.
    assert email("Line one <b>\nLine two") == "Line one <b>\nLine two"


# --- quoted history -------------------------------------------------------------------------

GMAIL_EN = """Hi team,

My order #48213 still hasn't arrived. Can you check?
- tracking says delivered
- nobody was home

Thanks,
Anna

On Mon, 5 Jan 2026 at 09:18, Shop Support <support@shop.com> wrote:
> Hello Anna,
> your parcel is on its way.
>
> Regards, Shop"""

OUTLOOK_EN = """Please cancel it.

Best regards,
John Smith
Purchasing Manager | ACME Corp
+1 555 0100

________________________________
From: Support <support@shop.com>
Sent: Monday, January 5, 2026 9:18 AM
To: John Smith <john@acme.com>
Subject: RE: Order 4821

Dear John, your order is confirmed."""

ORIGINAL_MESSAGE_EN = """Still waiting for the replacement.

-----Original Message-----
From: Support
Sent: Monday
Subject: Replacement

We will send a replacement."""

WRAPPED_ATTRIBUTION_EN = """I still haven't been refunded.

On Mon, Jan 5, 2026 at 9:18 AM Customer Support Team <customer-support@example-shop.com>
wrote:

> Dear customer,
> We have processed your refund."""

OUTLOOK_ZH = """你好，我的订单还没有到，请帮忙查一下。

谢谢
张伟

发件人: 客服 <support@shop.cn>
发送时间: 2026年1月5日 9:18
收件人: 张伟 <zw@qq.com>
主题: 回复: 订单 4821

您好，您的包裹已发出。"""

OUTLOOK_ZH_FULL_WIDTH_COLONS = """退款什么时候到账？

发件人：客服 <support@shop.cn>
发送时间：2026年1月5日 9:18
收件人：张伟
主题：回复：退款

您好，退款已处理。"""

GMAIL_ZH = """退款什么时候到账？

发自我的iPhone

在 2026年1月5日，09:18，客服 <support@shop.cn> 写道：

> 您好，退款已处理。"""

GMAIL_ZH_NAME_FIRST = """还是没有收到货。

客服 <support@shop.cn> 于2026年1月5日周一 09:18写道：
> 您好，已经发货了。"""

QQ_MAIL_ZH = """收到了，但是少了一件。

------------------ 原始邮件 ------------------
发件人: "客服"<support@shop.cn>;
发送时间: 2026年1月5日(星期一) 上午9:18
收件人: "张伟"<zw@qq.com>;
主题: 订单

您好，已发货。"""

NETEASE_ZH = """发票还没开。

-----原始邮件-----
发件人:客服
您好，发票会在三天内开出。"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            GMAIL_EN,
            "Hi team,\n\nMy order #48213 still hasn't arrived. Can you check?\n"
            "- tracking says delivered\n- nobody was home",
            id="gmail-en",
        ),
        pytest.param(OUTLOOK_EN, "Please cancel it.", id="outlook-en"),
        pytest.param(ORIGINAL_MESSAGE_EN, "Still waiting for the replacement.", id="original-en"),
        pytest.param(WRAPPED_ATTRIBUTION_EN, "I still haven't been refunded.", id="wrapped-en"),
        pytest.param(OUTLOOK_ZH, "你好,我的订单还没有到,请帮忙查一下。", id="outlook-zh"),
        pytest.param(OUTLOOK_ZH_FULL_WIDTH_COLONS, "退款什么时候到账?", id="outlook-zh-fw"),
        pytest.param(GMAIL_ZH, "退款什么时候到账?", id="gmail-zh"),
        pytest.param(GMAIL_ZH_NAME_FIRST, "还是没有收到货。", id="gmail-zh-name-first"),
        pytest.param(QQ_MAIL_ZH, "收到了,但是少了一件。", id="qq-mail-zh"),
        pytest.param(NETEASE_ZH, "发票还没开。", id="netease-zh"),
        pytest.param(
            "Die Lieferung fehlt immer noch.\n\n"
            "Am Mo., 5. Jan. 2026 um 09:18 Uhr schrieb Shop <care@shop.com>:\n"
            "> Ihre Bestellung wurde versandt.",
            "Die Lieferung fehlt immer noch.",
            id="gmail-de",
        ),
    ],
)
def test_quoted_history_is_removed(raw: str, expected: str) -> None:
    assert email(raw) == expected


def test_inline_quoted_lines_are_dropped() -> None:
    raw = "> Did you get the parcel?\nNo, nothing came.\n> Which address?\nThe office one."
    assert email(raw) == "No, nothing came.\nThe office one."


def test_history_rules_only_apply_to_email() -> None:
    assert normalize_text(GMAIL_EN, channel="chat").text.endswith("> Regards, Shop")


def test_a_sentence_starting_with_on_is_not_a_header() -> None:
    raw = "On Monday I ordered a phone and it never came.\nWhat happened?"
    assert email(raw) == raw


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "The app crashes when I pay.\n\n-- \nMaria Lopez\nSenior Buyer, Foo Inc.",
            "The app crashes when I pay.",
            id="dash-dash",
        ),
        pytest.param(
            "Can you call me back today?\n\nSent from my iPhone",
            "Can you call me back today?",
            id="sent-from-iphone",
        ),
        pytest.param("我的发票呢？\n\n发自我的iPhone", "我的发票呢?", id="fa-zi-iphone"),
        pytest.param("我的发票呢？\n\n发自网易邮箱大师", "我的发票呢?", id="netease-master"),
        pytest.param(
            "Wrong size delivered.\n\nBest regards,\nAnna Novak\nACME Ltd.",
            "Wrong size delivered.",
            id="best-regards",
        ),
        pytest.param("Wrong size delivered.\nThanks, Anna", "Wrong size delivered.", id="thx-name"),
        pytest.param(
            "你们的快递太慢了，已经一周了还没到。\n\n此致\n敬礼！\n李明",
            "你们的快递太慢了,已经一周了还没到。",
            id="ci-zhi-jing-li",
        ),
        pytest.param("东西坏了，怎么退？\n\n谢谢\n张伟", "东西坏了,怎么退?", id="xie-xie"),
    ],
)
def test_signatures_are_removed(raw: str, expected: str) -> None:
    assert email(raw) == expected


def test_thanks_inside_the_body_is_content() -> None:
    raw = "Hello,\nThanks, but the refund never arrived.\nPlease send it again.\n- item one"
    assert email(raw) == raw


def test_a_closing_followed_by_a_long_paragraph_is_content() -> None:
    raw = (
        "Hi,\nThanks!\n"
        "I ordered two pairs of shoes last week and only one pair arrived in the box.\n"
        "The second pair is missing and the invoice lists both of them clearly.\n"
        "Could you please send it or refund it?\nAlso the box was wet.\nAnd torn.\nAnna"
    )
    assert email(raw) == raw


def test_sent_from_my_without_a_device_is_content() -> None:
    raw = "Sent from my account yesterday but no reply\nPlease answer."
    assert email(raw) == raw


def test_faxin_neixin_is_not_a_mobile_footer() -> None:
    assert email("货收到了\n发自内心地感谢你们") == "货收到了\n发自内心地感谢你们"


# --- never empty ----------------------------------------------------------------------------


def test_quote_only_email_keeps_the_normalized_original() -> None:
    raw = "On Mon, 5 Jan 2026 at 09:18, Shop <care@shop.com> wrote:\n>  Your order   has shipped."
    assert email(raw) == (
        "On Mon, 5 Jan 2026 at 09:18, Shop <care@shop.com> wrote:\n> Your order has shipped."
    )


def test_signature_only_reply_keeps_the_reply() -> None:
    raw = "Thanks!\nJohn\n\nOn Mon, 5 Jan 2026 at 09:18, Shop <care@shop.com> wrote:\n> Shipped."
    assert email(raw) == "Thanks!\nJohn"


def test_forward_with_empty_body_keeps_the_header_block() -> None:
    raw = "-----Original Message-----\nFrom: Shop\nSent: Monday\nSubject: Invoice\n\nInvoice 12"
    assert "Invoice 12" in email(raw)


# --- budget ---------------------------------------------------------------------------------


def test_text_within_budget_is_untouched() -> None:
    result = normalize_text("short text", budget_chars=10)
    assert result == NormalizedText("short text", False, 10)


def test_long_text_keeps_head_and_tail_and_is_flagged() -> None:
    words = " ".join(f"w{i}" for i in range(1000))
    result = normalize_text(words, budget_chars=300)
    assert result.truncated and result.original_chars == len(words)
    assert len(result.text) <= 300
    head, tail = result.text.split(ELLIPSIS)
    assert words.startswith(head) and words.endswith(tail)
    assert 180 <= len(head) <= 200 and 80 <= len(tail) <= 100
    # cuts land between words
    assert head.split()[-1] in words.split() and tail.split()[0] in words.split()


def test_chinese_text_without_spaces_is_cut_exactly() -> None:
    text = "快递" * 100
    kept, cut = truncate_text(text, 53)
    assert cut and len(kept) == 53
    assert kept == "快递" * 16 + "快" + ELLIPSIS + "递" + "快递" * 8


def test_budget_none_never_cuts() -> None:
    text = "x " * 10_000
    result = normalize_text(text, budget_chars=None)
    assert not result.truncated and result.text == text.strip()


def test_budget_is_counted_after_email_stripping() -> None:
    result = normalize_text(GMAIL_EN, channel="email", budget_chars=30)
    assert result.truncated and result.original_chars == len(email(GMAIL_EN))


def test_tiny_budget_and_invalid_budget() -> None:
    assert truncate_text("abcdef", 3) == ("abc", True)
    with pytest.raises(ValueError, match="positive"):
        truncate_text("abc", 0)


# --- robustness -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=400)
    | st.lists(
        st.sampled_from(
            ["On ", "wrote:", "\n", "> ", "发件人:", "写道:", "-----原始邮件-----", "--", "<p>",
             "</p>", "<br>", "Thanks,", "谢谢", "Sent from my iPhone", "&amp;", " ", "x", "2026"]
        ),
        max_size=60,
    ).map("".join),
    channel=st.sampled_from(["email", "chat", "other"]),
    budget=st.none() | st.integers(min_value=1, max_value=500),
)  # fmt: skip
def test_any_text_normalizes_without_error(text: str, channel: str, budget: int | None) -> None:
    result = normalize_text(text, channel=channel, budget_chars=budget)
    assert isinstance(result.text, str)
    if budget is not None:
        assert len(result.text) <= budget
        assert result.truncated == (result.original_chars > budget)
    if text.strip() and not result.text:
        # only invisible characters (or, in an HTML e-mail, markup) can vanish completely
        assert (channel == "email" and "<" in text) or not normalize_text(text).text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300).filter(lambda text: "&" not in text))
def test_normalizing_twice_changes_nothing(text: str) -> None:
    once = normalize_text(text, budget_chars=None).text
    assert normalize_text(once, budget_chars=None).text == once
