import Link from "next/link";
import Lazy from "./lazy-client";

export default function Home() {
  return (
    <main>
      <div className="hero" />
      <h1>corpus</h1>
      <Link href="/about/">about</Link>
      <Lazy />
    </main>
  );
}
