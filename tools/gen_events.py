"""Generates the envelope samples in events/ (SQS, SNS, EventBridge, the
collectstatic batch) from events/s3-put.json, in the shapes AWS sends.
Run from the repository root: python3 tools/gen_events.py"""
import json, uuid, hashlib
base = json.load(open("events/s3-put.json"))["Records"][0]
REGION="eu-west-1"; ACCT="123456789012"; BUCKET="example-static-site"
def mid(n): return str(uuid.UUID(hashlib.md5(n.encode()).hexdigest()))
def s3rec(key, seq, name="ObjectCreated:Put", size=1024, t="2026-11-25T10:15:30.123Z"):
    r = json.loads(json.dumps(base)); r["eventName"]=name; r["eventTime"]=t
    o = r["s3"]["object"]; o["key"]=key; o["sequencer"]=seq
    if name.startswith("ObjectRemoved"): o.pop("size",None); o.pop("eTag",None)
    else: o["size"]=size; o["eTag"]=hashlib.md5(key.encode()).hexdigest()
    return r
def compact(v): return json.dumps(v, separators=(",",":"))
def sqs(body, name):
    return {"messageId": mid(name), "receiptHandle": "AQEB"+hashlib.sha1(name.encode()).hexdigest()*3,
      "body": body, "attributes": {"ApproximateReceiveCount":"1","SentTimestamp":"1795601730123",
      "SenderId":"AIDAIENQZJOLO23YVJ4VO","ApproximateFirstReceiveTimestamp":"1795601730130"},
      "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode()).hexdigest(), "eventSource":"aws:sqs",
      "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCT}:cloudfront-invalidator-changes", "awsRegion": REGION}
def sns_env(msg, name):
    return {"Type":"Notification","MessageId":mid("sns"+name),"TopicArn":f"arn:aws:sns:{REGION}:{ACCT}:static-site-changes",
      "Subject":"Amazon S3 Notification","Message":msg,"Timestamp":"2026-11-25T10:15:30.456Z","SignatureVersion":"1",
      "Signature":"EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
      "SigningCertURL":f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
      "UnsubscribeURL":f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:{REGION}:{ACCT}:static-site-changes:"+mid("sub")}
def eb(detail_type, key, seq, reason, version=None):
    obj={"key":key,"sequencer":seq}
    if detail_type=="Object Created": obj.update(size=4096, etag=hashlib.md5(key.encode()).hexdigest())
    if version: obj["version-id"]=version
    d={"version":"0","bucket":{"name":BUCKET},"object":obj,"request-id":"N4N7GDK58NMKJ12R",
       "requester":ACCT,"source-ip-address":"203.0.113.10","reason":reason}
    if detail_type=="Object Deleted": d["deletion-type"]="Permanently Deleted"
    return {"version":"0","id":mid("eb"+key+detail_type),"detail-type":detail_type,"source":"aws.s3","account":ACCT,
      "time":"2026-11-25T10:15:30Z","region":REGION,"resources":[f"arn:aws:s3:::{BUCKET}"],"detail":d}
def write(name, ev):
    with open("events/"+name,"w") as f: json.dump(ev, f, indent=2, ensure_ascii=False); f.write("\n")

write("sqs-s3-batch.json", {"Records":[sqs(compact({"Records":[s3rec(k,s)]}), k+s) for k,s in
   [("index.html","0062F1A3B4C5D6F001"),("css/site.css","0062F1A3B4C5D6F002"),("css/site.css","0062F1A3B4C5D6F003")]]})
write("sqs-test-event.json", {"Records":[sqs(compact(json.load(open("events/s3-test-event.json"))), "test")]})
write("sqs-sns-s3.json", {"Records":[sqs(compact(sns_env(compact({"Records":[s3rec("blog/2026/11/launch.html","0062F1A3B4C5D6F101")]}),"a")),"snsa")]})
write("sns-s3.json", {"Records":[{"EventSource":"aws:sns","EventVersion":"1.0",
   "EventSubscriptionArn":f"arn:aws:sns:{REGION}:{ACCT}:static-site-changes:"+mid("sub"),
   "Sns":{**{k:v for k,v in sns_env(compact({"Records":[s3rec("fonts/inter.woff2","0062F1A3B4C5D6F201")]}),"b").items() if k not in ("SigningCertURL","UnsubscribeURL")},
          "SigningCertUrl":f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
          "UnsubscribeUrl":f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe","MessageAttributes":{}}}]})
write("eventbridge-object-created.json", eb("Object Created","reports/q3+summary.pdf","0062F1A3B4C5D6F301","PutObject"))
write("eventbridge-object-deleted.json", eb("Object Deleted","old/page.html","0062F1A3B4C5D6F302","DeleteObject"))
write("sqs-eventbridge.json", {"Records":[sqs(compact(eb("Object Created","img/logo.svg","0062F1A3B4C5D6F401","PutObject")),"eb1"),
   sqs(compact(eb("Object Deleted","img/old-logo.svg","0062F1A3B4C5D6F402","DeleteObject")),"eb2")]})
write("sqs-poison-message.json", {"Records":[
   sqs(compact({"Records":[s3rec("js/app.js","0062F1A3B4C5D6F501")]}),"p1"),
   sqs("this is not an S3 notification", "poison"),
   sqs(compact({"Records":[s3rec("js/vendor.js","0062F1A3B4C5D6F503")]}),"p3")]})
# collectstatic: Django admin-like tree, unhashed and hashed copies (ManifestStaticFilesStorage), staticfiles.json
files=[]
for app,dirs in {"admin":{"css":["base","changelists","dashboard","forms","login","nav_sidebar","responsive","rtl","widgets","autocomplete","dark_mode"],
                          "js":["actions","calendar","collapse","core","inlines","prepopulate","SelectBox","SelectFilter2","urlify","theme","nav_sidebar","filters","autocomplete","change_form","popup_response"],
                          "img":["icon-addlink","icon-alert","icon-calendar","icon-changelink","icon-clock","icon-deletelink","icon-no","icon-yes","search","sorting-icons","tooltag-add","tooltag-arrowright","selector-icons","inline-delete","calendar-icons"]},
                 "rest_framework":{"css":["bootstrap","bootstrap-tweaks","default","prettify","font-awesome-4.0.3"],"js":["ajax-form","csrf","default","jquery-3.7.1.min","prettify-min","bootstrap.min"],"img":["grid","glyphicons-halflings","glyphicons-halflings-white"]},
                 "site":{"css":["main","print","theme-dark","theme-light"],"js":["main","analytics","search","menu","carousel"],"img":["logo","hero","favicon","og-image"],"fonts":["inter-regular","inter-bold","inter-italic"],"gallery":[f"photo-{i:03d}" for i in range(60)]}}.items():
    for d,names in dirs.items():
        ext={"css":"css","js":"js","img":"svg","fonts":"woff2","gallery":"jpg"}[d]
        for n in names: files.append(f"{app}/{d}/{n}.{ext}")
keys=[]
for f in files:
    stem,ext=f.rsplit(".",1); h=hashlib.md5(f.encode()).hexdigest()[:12]
    keys += [f"static/{f}", f"static/{stem}.{h}.{ext}"]
keys.append("static/staticfiles.json")
write("sqs-collectstatic.json", {"Records":[sqs(compact({"Records":[s3rec(k, "0062F1A3B4C5D7%05X" % i, size=1000+i, t="2026-11-25T10:20:%02d.%03dZ" % (i//40, i%1000))]}), "cs"+k) for i,k in enumerate(keys)]})
print(len(keys), "collectstatic keys")
