"""Calibration of the LLM citation check (semsearch/answer/llm.py, ``Settings.llm_support_threshold``).

    .venv/bin/python bench/llm_support.py [--index DIR]

For each question below, the passages are the top 5 that ``search`` retrieves
from seeds/; the passage holding ``gold`` is the one an answer should cite.
Three kinds of sentence, written the way a chat model answers (a near quote,
a paraphrase that reorders, drops and adds wording from the question):

* faithful: each faithful sentence checked against its own passage (should pass);
* wrong passage: the same sentences checked against the other retrieved passages,
  which are on the same topic and often the same document (should fail);
* invented: claims that the passage does not make, in its vocabulary, checked
  against the right passage (should fail).

Prints, for each threshold, the share of each kind that the full check
(numbers + term share) and the term share alone accept.
"""

from __future__ import annotations

import argparse

import benchlib as B

from semsearch import Index
from semsearch.answer.llm import Evidence, content_terms, support
from semsearch.text.normalize import match_key

# (question, gold substring, [faithful...], [invented...])
CASES = [
    ("委员联系界别群众的制度是从哪几个方面建立的?", "从主动走访、互动协商",
     ["委员与界别群众联系的制度是从主动走访、互动协商、帮办实事、教育引导、履职报告等5个方面建立的。",
      "甘肃省政协从主动走访、互动协商、帮办实事、教育引导和履职报告五个方面建立了委员联系界别群众的制度。"],
     ["这些制度由各市州政协分别制定并报省委备案。"]),
    ("甘肃省政协挂牌建立了多少个委员工作室?", "挂牌建立1167个委员工作室",
     ["甘肃省政协挂牌建立了1167个委员工作室。",
      "按照“六有”标准，甘肃省政协遴选委员挂牌建立了1167个委员工作室，作为委员学习交流和服务群众的平台。"],
     ["这些委员工作室全部设在乡镇和街道的便民服务中心。"]),
    ("武汉市政协组建了多少个专委会党支部?", "组建10个专委会党支部",
     ["武汉市政协组建了10个专委会党支部。",
      "武汉市政协健全党的组织体系，组建10个专委会党支部，把223名党员委员全部纳入政协党组织。"],
     ["专委会党支部书记由各专委会主任兼任，每月开展一次主题党日活动。"]),
    ("《中国政协》杂志的深圳专刊一共有多少篇文章?", "共49篇文章20余万字",
     ["《中国政协》杂志的深圳专刊共有49篇文章。",
      "《中国政协》杂志编印的深圳专刊共收录49篇文章，20余万字，全景式展现了协商民主在深圳的活力。"],
     ["该专刊由深圳市政协办公厅负责组稿并免费发放给全体委员。"]),
    ("靖州县今年的专题协商课题中有几个是县委政府点题的?", "其中3个由县委政府点题",
     ["靖州县今年的5个专题协商课题中，有3个是县委政府点题或委托的。",
      "今年共有5个专题协商课题，其中3个由县委政府点题或委托。"],
     ["其余课题由政协委员通过网络投票的方式选定。"]),
    ("河池市政协组建了多少个读书群?", "组建读书群58个",
     ["河池市政协组建了58个读书群。",
      "河池市政协组织开展“书香政协 委员读书”活动，组建读书群58个，开办委员讲堂150多场次。"],
     ["读书群每周组织一次线上分享会，由市政协主席亲自领读。"]),
    ("邻水县政协编辑了多少期《社情民意》?", "共编辑《社情民意》30期",
     ["邻水县政协自去年9月以来共编辑了30期《社情民意》。",
      "邻水县政协组织委员围绕群众关心的热点难点问题反映社情民意，共编辑《社情民意》30期。"],
     ["这些社情民意信息全部被省政协采用并获得省领导批示。"]),
    ("雲南省政協有幾個專委會成立了分黨組?", "9个专委会全部成立分党组",
     ["云南省政协的9个专委会全部成立了分党组。",
      "在组织建设方面，云南省政协推动党的组织全覆盖，9个专委会均已成立分党组。"],
     ["分党组书记由省委组织部统一选派并实行任期制管理。"]),
    ("邻水县组织了多少人次参加县上的业务知识培训?", "350余人次参加县上",
     ["邻水县政协先后组织350余人次参加县上相关业务知识培训。",
      "邻水县政协组织了350多人次参加县里的业务知识培训。"],
     ["培训结束后，所有参训人员都要参加闭卷考试并在县电视台公示成绩。"]),
    ("西安市政协推进制度“立改并废”,把多少项制度修改完善为多少项?", "将92项制度修改完善为55项制度",
     ["西安市政协推进制度“立改并废”，将92项制度修改完善为55项制度。",
      "通过“立改并废”，西安市政协把92项制度修改完善为55项。"],
     ["修改后的制度汇编成册并在全国政协系统推广。"]),
    ("云南省政协驻村工作队协调了多少资金为三猛乡建设小学?", "协调363万元资金",
     ["云南省政协驻村工作队协调了363万元资金为三猛乡建设加泊小学。",
      "2021年以来，驻村工作队协调363万元资金，为三猛乡建设了加泊小学。"],
     ["这所小学建成后可容纳周边五个村的学生就读。"]),
    ("河池市政协协调创建了多少个协商议事室?", "协调创建604个协商议事室",
     ["河池市政协协调创建了604个协商议事室。",
      "河池市政协协调创建604个协商议事室，召开协商议事会1200多场次。"],
     ["这些协商议事室主要设在城区社区，由退休干部负责日常运行。"]),
    ("河池市政协开展专题协商和视察调研后,获得市党政领导批示多少人次?", "获得市党政领导批示70多人次",
     ["河池市政协开展专题协商和视察调研后，获得市党政领导批示70多人次。",
      "市政协开展了20多个专题协商和视察调研活动，提出意见建议150多条，获得市党政领导批示70多人次。"],
     ["这些批示大多要求相关部门在一个月内办结并向市政协反馈。"]),
    ("河池市政协办公室获得了什么卫生方面的荣誉称号?", "卫生先进单位",
     ["河池市政协办公室荣获“广西壮族自治区卫生先进单位（2022—2024年）”称号。",
      "市政协办公室获得了广西壮族自治区卫生先进单位的荣誉称号。"],
     ["市政协办公室还被评为全国文明单位和全国卫生先进集体。"]),
    ("甘肃省政协把502名省政协委员分成了多少个界别活动组?", "分为16个界别活动组",
     ["甘肃省政协将502名省政协委员分为16个界别活动组。",
      "按照界别相近、便于组织的原则，502名省政协委员被分成16个界别活动组，由各专委会和民主党派负责联系。"],
     ["每个界别活动组每年都要向省政协常委会提交一份工作报告。"]),
    ("甘肃要求每名政协委员全年联系群众不少于多少人次?", "不少于40人次",
     ["甘肃要求每名政协委员全年联系群众不少于40人次。",
      "每名委员联系1-3个基层单位，每季度至少开展1次活动，全年联系群众不少于40人次。"],
     ["未完成联系任务的委员将在年度履职考核中被扣分并通报。"]),
    ("武汉市政协深入排查违纪风险,形成了多少个违纪风险点?", "形成6大类25个违纪风险点",
     ["武汉市政协深入排查违纪风险，形成了6大类25个违纪风险点。",
      "通过排查违纪风险，武汉市政协梳理出6大类25个违纪风险点，促进把严守纪律融入日常。"],
     ["针对这些风险点，市纪委监委派驻纪检组每季度开展专项检查。"]),
    ("邻水县政协把优秀委员选派到哪所大学培训?", "厦门大学",
     ["邻水县政协选派优秀委员到厦门大学培训。",
      "邻水县政协建立了系统培训体系，把优秀委员选派到厦门大学参加培训。"],
     ["委员们在清华大学和北京大学接受了为期一个月的脱产培训。"]),
    ("2021年云南省政协各级党组织和机关党员干部共为民办实事多少件?", "共为民办实事1100余件",
     ["2021年，云南省政协各级党组织和机关党员干部共为民办实事1100余件。",
      "2021年云南省政协的党组织和党员干部一共为群众办了1100多件实事。"],
     ["这些实事主要集中在修路、饮水和危房改造等方面。"]),
    ("靖州县在确定一年要商量哪些话题时,会从哪些渠道收集题目?", "党委点题、政府出题",
     ["靖州县通过党委点题、政府出题、委员荐题、社会征题等多种方式精选确定协商议题。",
      "选题来自党委点题、政府出题、委员荐题和社会征题等渠道。"],
     ["靖州县还通过微信公众号向全县群众公开征集协商议题并进行投票。"]),
    ("西安为每位委员提供了什么法律方面的支持?", "为每名委员配备法律顾问",
     ["西安市政协为每名委员配备了法律顾问。",
      "西安为每位委员都配备了法律顾问，并推荐委员担任行风监督员。"],
     ["法律顾问由市司法局从本地律师事务所中统一选派，费用由财政承担。"]),
    ("邻水的政协委员到村里走访时具体为老百姓做些什么?", "看望困难群众、宣传党的方针政策",
     ["邻水县政协委员到村里看望困难群众、宣传党的方针政策、反映社情民意、化解矛盾纠纷、提供便民服务。",
      "委员们走访村子时会看望困难群众，宣传党的方针政策，并帮助化解矛盾纠纷、提供便民服务。"],
     ["委员们还为村民免费体检并发放农业技术资料。"]),
    ("2021年5月云南政协领导班子去了哪个红色遗址接受革命传统教育?", "威信县扎西会议旧址",
     ["2021年5月，云南省政协领导班子到威信县扎西会议旧址接受革命传统教育。",
      "2021年5月20日，省政协党组组织领导班子成员等到威信县扎西会议旧址开展现场学习体验活动。"],
     ["他们还参观了遵义会议纪念馆并重温了入党誓词。"]),
]

THRESHOLDS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]


def share(sentence: str, evidence: Evidence) -> float:
    terms = content_terms(sentence)
    return len(terms & evidence.terms) / len(terms) if terms else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(B.REPO / "index"))
    args = parser.parse_args()
    idx = Index.open(args.index)
    if not idx.exists():
        idx.reindex([B.CORPORA["seeds"]])
    rows = {"faithful": [], "wrong passage": [], "invented": []}  # (sentence, evidence)
    for question, gold, faithful, invented in CASES:
        hits = idx.search(question, 5)
        own = [h for h in hits if match_key(gold) in match_key(h.text)]
        if not own:
            print(f"skipped (gold not retrieved): {question}")
            continue
        right = Evidence.of(own[0])
        others = [Evidence.of(h) for h in hits if match_key(gold) not in match_key(h.text)]
        rows["faithful"] += [(s, right) for s in faithful]
        rows["wrong passage"] += [(s, ev) for s in faithful for ev in others]
        rows["invented"] += [(s, right) for s in invented]

    for kind, pairs in rows.items():
        shares = sorted(share(s, ev) for s, ev in pairs)
        print(f"{kind:14} n={len(pairs):3}  term share min {shares[0]:.2f}  median {shares[len(shares) // 2]:.2f}  "
              f"max {shares[-1]:.2f}")
    print()
    print("| threshold | faithful kept | wrong passage rejected | invented rejected | "
          "(share alone: faithful kept / wrong rejected / invented rejected) |")
    print("|---|---|---|---|---|")
    for t in THRESHOLDS:
        full = {k: sum(support(s, ev, t)[0] for s, ev in pairs) / len(pairs) for k, pairs in rows.items()}
        alone = {k: sum(share(s, ev) >= t for s, ev in pairs) / len(pairs) for k, pairs in rows.items()}
        print(f"| {t:.2f} | {full['faithful']:.2f} | {1 - full['wrong passage']:.2f} | {1 - full['invented']:.2f} | "
              f"{alone['faithful']:.2f} / {1 - alone['wrong passage']:.2f} / {1 - alone['invented']:.2f} |")
    print()
    for kind in ("faithful", "invented"):
        for s, ev in rows[kind]:
            print(f"{kind:9} {share(s, ev):.2f} [{ev.rank}] {s}")


if __name__ == "__main__":
    main()
