"""The gateway simulator's HTML pages: the hosted card page and the 3-D Secure page."""

from __future__ import annotations

import html

from aiohttp import web

THREE_DS_CODE = "123456"
"""The test 3-D Secure code the simulator accepts."""

_STYLE = (
    "body{font-family:sans-serif;max-width:26rem;margin:2rem auto}label{display:block;"
    "margin:.6rem 0}input{width:100%;padding:.3rem}.error{color:#b00}"
)
_LUHN = (
    "<script>document.forms[0].addEventListener('submit',function(e){"
    "var p=this.pan;if(!p||e.submitter&&e.submitter.value==='cancel')return;"
    "var d=p.value.replace(/ /g,''),s=0;for(var i=0;i<d.length;i++){"
    "var n=+d[d.length-1-i];if(i%2){n*=2;if(n>9)n-=9}s+=n}"
    "if(s%10){e.preventDefault();p.setCustomValidity('Not a valid card number');"
    "p.reportValidity();p.setCustomValidity('')}});</script>"
)


def html_page(status: int, content: str) -> web.Response:
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Demo gateway</title>"
        f"<style>{_STYLE}</style></head><body>{content}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html")


def _warning(error: str | None) -> str:
    return f"<p class=error role=alert>{html.escape(error)}</p>" if error else ""


def card_page(*, error: str | None) -> str:
    return (
        f"<h1>Demo gateway</h1><p>Add your card to the wallet.</p>{_warning(error)}"
        "<form method=post>"
        "<label>Card number <input name=pan inputmode=numeric autocomplete=cc-number "
        'required pattern="[0-9 ]{12,23}"></label>'
        "<label>Expiry month <input name=expiryMonth inputmode=numeric required "
        'pattern="[0-9]{1,2}"></label>'
        "<label>Expiry year <input name=expiryYear inputmode=numeric required "
        'pattern="[0-9]{2,4}"></label>'
        "<button name=action value=save>Continue</button></form>"
        f"{_LUHN}"
    )


def card_saved_page(return_url: str, wallet_id: str, order_id: str) -> str:
    back = html.escape(f"{return_url}?walletId={wallet_id}&orderId={order_id}", quote=True)
    return (
        "<h1>Demo gateway</h1><p id=state>Card read. The app now asks for its validation "
        "(<code>POST .../sessions/{orderId}/validations</code>) and opens the 3-D Secure page."
        f'</p><p><a href="{back}">Back to the app</a></p>'
    )


def three_ds_page(*, error: str | None) -> str:
    return (
        f"<h1>Demo gateway</h1><p>Confirm it is your card.</p>{_warning(error)}"
        "<form method=post>"
        f"<label>3-D Secure code (test: {THREE_DS_CODE}) <input name=threeDsCode "
        "inputmode=numeric required></label>"
        "<button name=action value=confirm>Confirm</button> "
        "<button name=action value=cancel formnovalidate>Cancel</button></form>"
    )


def result_page(result: str, return_url: str, wallet_id: str) -> str:
    shown = html.escape(result)
    back = html.escape(f"{return_url}?walletId={wallet_id}&outcome={shown}", quote=True)
    return (
        f"<h1>Demo gateway</h1><p>Outcome: <strong id=outcome>{shown}</strong></p>"
        f'<p><a href="{back}">Back to the app</a></p>'
    )
