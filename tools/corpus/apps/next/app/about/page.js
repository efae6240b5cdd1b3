import styles from "./about.module.css";

export default function About() {
  return <p className={styles.about}>about this corpus</p>;
}
