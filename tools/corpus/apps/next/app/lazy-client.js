"use client";

import { useState } from "react";

export default function Lazy() {
  const [text, setText] = useState("");
  return (
    <button
      onClick={async () => {
        const { greet } = await import("./greet");
        setText(greet("lazy"));
      }}
    >
      more {text}
    </button>
  );
}
