"""The visitor's account on the page: their role and why in the sidebar, sign-in and sign-out buttons,
and the sign-in page when the app may not be used without signing in (ui/auth.py decides)."""

from __future__ import annotations

import streamlit as st

from ui.auth import Access, SignIn

ACCOUNT_KEY = "account"
"""The sidebar's account box (CSS class `st-key-account`)."""


def sign_in_buttons(sign_in: SignIn) -> None:
    """One button per configured provider ("Sign in", or "Sign in with NAME" when there are several)."""
    for provider in sign_in.providers:
        label = "Sign in" if len(sign_in.providers) == 1 else f"Sign in with {provider or 'the default provider'}"
        if st.button(label, key=f"sign-in-{provider or 'default'}", type="primary", width="stretch"):
            st.login(provider)


def account_sidebar(current: Access) -> None:
    """Who the visitor is, what they may do and why; sign in or out."""
    with st.sidebar.container(border=True, key=ACCOUNT_KEY):
        st.markdown(current.mode)
        if current.signed_in:
            if st.button("Sign out", key="sign-out", width="stretch"):
                st.logout()
        elif current.sign_in.configured:
            sign_in_buttons(current.sign_in)


def sign_in_page(current: Access) -> None:
    """Instead of the pages, for a visitor who may not use the app: why, and how to sign in."""
    st.title("Newsdesk")
    st.info(current.blocked or "Sign in to use Newsdesk.")
    if current.sign_in.configured:
        sign_in_buttons(current.sign_in)
