//! An embedded Unicat dev server. Not yet filled: see issue 4.
